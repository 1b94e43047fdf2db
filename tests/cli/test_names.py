"""``enhanceit upscale`` into a folder: every input gets a name of its own, and results are never inputs."""

from __future__ import annotations

from pathlib import Path

from enhanceit.cli import main
from enhanceit.cli.upscale import plan_tasks
from tests.helpers import photo, save

FAST = ["--model", "waifu2x-upconv7-photo"]


def test_colliding_names_get_distinct_outputs(tmp_path: Path) -> None:
    """Defect 7: good.jpg and good.jpg.png both became out/good.jpg.png, and one result was lost."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, name in enumerate(["good.png", "good.jpg", "good.jpg.png", "good.webp"]):
        save(photo("astronaut", 16) + i, inputs / name)
    jobs = plan_tasks([inputs], tmp_path / "out", recursive=False, explicit_format=None)
    names = {job.src.name: job.dst.name for job in jobs}
    assert len(set(names.values())) == len(names) == 4, names
    assert names["good.png"] == "good.png" and names["good.jpg.png"] == "good.jpg.png"  # own names kept


def test_names_differing_only_in_case_do_not_collide(tmp_path: Path) -> None:
    """A case-insensitive file system (macOS, Windows, a mounted share) would write both to one file."""
    a = save(photo("astronaut", 16), tmp_path / "Photo.jpg")
    b = save(photo("coffee", 16), tmp_path / "photo.webp")
    jobs = plan_tasks([a, b], tmp_path / "out", recursive=False, explicit_format=None)
    assert len({str(job.dst).casefold() for job in jobs}) == 2, [job.dst for job in jobs]


def test_an_output_folder_inside_a_recursive_input_is_skipped(tmp_path: Path) -> None:
    """Defect 7: '-o in/out -r' upscaled its own earlier results on the next run."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    save(photo("astronaut", 16), inputs / "a.png")
    out = inputs / "out"
    for _ in range(2):
        assert main(["upscale", str(inputs), "-o", str(out), "-r", *FAST, "--quiet"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["a.png"]
