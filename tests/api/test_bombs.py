"""HEIF and AVIF grid bombs, decodable ones, refused from their boxes with the server under its budget.

The probe's bomb: a grid of one 2048² tile named 15x15 times (30720², 943 M pixels), cropped to 64x64 by a
``clap`` box. The limits saw the 64x64 that libvips' header reports, and the decoder built the whole grid:
1.4 GB here for a 4:2:0 HEIC of 1.6 KB (2.9 GB for a 4:4:4 one). The AVIF is a 7x7 grid (14336², just under
the 268 M pixels that the libheif inside libvips accepts): 390 MB from 0.7 KB.

The server runs in a child process, so that what it holds is measured alone: its peak resident memory is
reset (``clear_refs``) after a first, ordinary request, and read again after each bomb.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from enhanceit.imaging.vips import pyvips
from tests.heif_grids import grid_bomb

ROOT = Path(__file__).resolve().parents[2]

SERVER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import httpx
    from tests.api.conftest import make_settings, png_bytes, start

    def kb(field):
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field + ":"))

    work = Path(sys.argv[1])
    server, _ = start(make_settings(work))
    with server, httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post("/v1/enhance", files={"file": ("a.png", png_bytes(), "image/png")}).status_code == 200
        for name in sys.argv[2:]:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from what is held now
            before = kb("VmRSS")
            r = client.post("/v1/enhance", files={"file": (name, (work / name).read_bytes(), "image/heif")})
            body = r.json() if r.headers["content-type"].endswith("json") else {}
            grew = (kb("VmHWM") - before) // 1024
            print(json.dumps({"name": name, "status": r.status_code, "body": body, "grew_mb": grew}))
    """
)


def source(codec: str, side: int) -> bytes:
    """A flat grey ``side``² image, one coded item: a few hundred bytes of bitstream."""
    if codec == "hevc":
        buffer = io.BytesIO()
        pillow_heif.from_pillow(Image.new("RGB", (side, side), (128, 128, 128))).save(buffer, quality=10)
        return buffer.getvalue()
    image = (pyvips.Image.black(side, side, bands=3) + 128).cast("uchar")
    return bytes(image.heifsave_buffer(compression="av1", Q=10, effort=0))


def serve(tmp_path: Path, files: dict[str, bytes]) -> dict[str, dict[str, object]]:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-c", SERVER, str(tmp_path), *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    answers = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return {a["name"]: a for a in answers}


@pytest.mark.slow
def test_heic_and_avif_grid_bombs_are_refused_from_their_boxes_under_budget(tmp_path: Path) -> None:
    bombs = {
        "bomb.heic": grid_bomb(source("hevc", 2048), tiles=15),
        "bomb.avif": grid_bomb(source("av1", 2048), tiles=7),
    }
    assert all(len(data) < 2048 for data in bombs.values())
    answers = serve(tmp_path, bombs)
    for name, answer in answers.items():
        print(f"\n{name}: {answer['status']}, the server grew {answer['grew_mb']} MB")
        body = answer["body"]
        assert answer["status"] == 422 and str(body["type"]).endswith("/too-many-pixels"), (name, body)  # type: ignore[index]
        assert "before its crop" in str(body["detail"])  # type: ignore[index]
        assert answer["grew_mb"] < 64, answer  # decoding: 1400 MB (HEIC) and 350 MB (AVIF)
    assert len(answers) == 2


def test_a_grid_under_the_limits_is_decoded_whole(tmp_path: Path) -> None:
    """The same construction, 2x2 tiles of 256² cropped to 64x64: decodable, so the bombs above are real."""
    answers = serve(
        tmp_path,
        {"grid.heic": grid_bomb(source("hevc", 256), tiles=2), "grid.avif": grid_bomb(source("av1", 256), tiles=2)},
    )
    for name, answer in answers.items():
        body = answer["body"]
        assert answer["status"] == 200, (name, body)
        result = body["result"]  # type: ignore[index]
        assert (result["width"], result["height"]) == (128, 128), body
    assert len(answers) == 2
