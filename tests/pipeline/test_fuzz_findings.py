"""What ``make fuzz`` found, kept as regression files: each is refused with a clear error, or enhanced."""

from __future__ import annotations

from pathlib import Path

import pytest

from enhanceit.config import LimitSettings
from enhanceit.engine.fake import fake_engine
from enhanceit.errors import EnhanceItError
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file

FINDINGS = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "fuzz").iterdir())
#: The fuzzer's own limits (fuzz/pipeline.py).
LIMITS = LimitSettings(
    max_input_pixels=4_000_000, max_output_pixels=16_000_000, max_frames=20, max_scratch_bytes=256 << 20
)


@pytest.mark.parametrize("finding", FINDINGS, ids=[p.name for p in FINDINGS])
def test_a_fuzz_finding_is_refused_or_enhanced_never_a_crash(finding: Path, tmp_path: Path) -> None:
    """heic-cut-in-its-bitstream: pillow-heif's EOFError ("Unexpected end of file") was not translated: a 500.
    avif-field-name-not-utf8: pyvips' get_fields raised UnicodeDecodeError on a metadata name: a 500."""
    options = EnhanceOptions(model="waifu2x-cunet", scale=2, noise=1)
    try:
        enhance_file(finding, tmp_path / "out.png", options, fake_engine(), LIMITS, tmp_dir=tmp_path)
    except EnhanceItError as e:
        assert e.status_code < 500, e  # a bad file is the client's: 4xx
