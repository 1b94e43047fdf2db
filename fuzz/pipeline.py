"""``make fuzz``: coverage-guided fuzzing of our code around the decoders, with atheris (libFuzzer for Python).

Each input is written to a file and goes the way an upload goes: sniff and probe the header, the limits,
decode (libvips, pillow-heif, Pillow for APNG), one tiny enhance (the nearest-neighbour test engine, so an
execution costs the decoders, not a network) and the encode. An :class:`~enhanceit.errors.EnhanceItError` is
a correct answer to a bad file; any other exception, a crash, a hang or memory past the limit is a finding.

libFuzzer bounds each input (``-timeout``, ``-rss_limit_mb``); with ``-fork`` each input runs in a child
process, so a decoder that dies takes no more than that child. The seeds are real images in every format we
read (made here from scikit-image's photos). A finding is saved as ``crash-*``/``timeout-*``/``oom-*`` in
``fuzz/findings``: make it a regression file under ``tests/fixtures/fuzz`` and a test.

    .venv/bin/python fuzz/pipeline.py fuzz/corpus fuzz/seeds -max_total_time=1800 -timeout=20 \\
        -rss_limit_mb=1536 -fork=1 -artifact_prefix=fuzz/findings/
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from enhanceit.allocator import configure_process
    from enhanceit.config import LimitSettings
    from enhanceit.engine.fake import fake_engine
    from enhanceit.errors import EnhanceItError
    from enhanceit.options import EnhanceOptions
    from enhanceit.pipeline.process import enhance_file

#: Small limits: an input may be anything, and each execution must stay cheap and bounded.
LIMITS = LimitSettings(
    max_input_pixels=4_000_000, max_output_pixels=16_000_000, max_frames=20, max_scratch_bytes=256 << 20
)
ENGINE = fake_engine()
WORK = Path(tempfile.mkdtemp(prefix="enhanceit-fuzz-"))


def one_input(data: bytes) -> None:
    src = WORK / "input"
    src.write_bytes(data)
    options = EnhanceOptions(model="waifu2x-cunet", scale=2, noise=1)
    with contextlib.suppress(EnhanceItError):  # a clear refusal of a bad file is the right answer
        enhance_file(src, WORK / "out.png", options, ENGINE, LIMITS, tmp_dir=WORK)


def seeds(folder: Path) -> None:
    """Real images in every readable format, small, as the corpus starts."""
    import numpy as np
    import pillow_heif
    import skimage.data
    from PIL import Image

    from enhanceit.imaging.vips import pyvips

    folder.mkdir(parents=True, exist_ok=True)
    photo = np.ascontiguousarray(skimage.data.astronaut()[100:164, 120:184])
    image = pyvips.Image.new_from_memory(photo.tobytes(), 64, 64, 3, "uchar")
    image.pngsave(str(folder / "photo.png"))
    image.pngsave(str(folder / "interlaced.png"), interlace=True)
    image.jpegsave(str(folder / "photo.jpg"), Q=85)
    image.jpegsave(str(folder / "progressive.jpg"), Q=85, interlace=True)
    image.webpsave(str(folder / "photo.webp"), Q=80)
    image.tiffsave(str(folder / "photo.tif"), compression="deflate")
    image.heifsave(str(folder / "photo.avif"), compression="av1", Q=50, effort=0)
    image.gifsave(str(folder / "photo.gif"))
    Image.fromarray(photo).save(folder / "photo.bmp")
    pillow_heif.from_pillow(Image.fromarray(photo)).save(folder / "photo.heic", quality=60)
    frames = [Image.fromarray(np.roll(photo, 8 * k, axis=1)) for k in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    frames[0].save(folder / "anim.webp", save_all=True, append_images=frames[1:], duration=80, lossless=True)
    frames[0].save(folder / "anim.png", save_all=True, append_images=frames[1:], duration=80)


def main() -> None:
    configure_process()
    here = Path(__file__).resolve().parent
    seeds(here / "seeds")
    (here / "findings").mkdir(exist_ok=True)
    (here / "corpus").mkdir(exist_ok=True)
    os.environ.setdefault("ENHANCEIT_DATA_DIR", str(WORK / "data"))
    # -fork=N re-runs argv[0] for each child: an executable that starts this script with this Python
    launcher = WORK / "fuzz-pipeline"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    launcher.chmod(0o755)
    atheris.Setup([str(launcher), *sys.argv[1:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
