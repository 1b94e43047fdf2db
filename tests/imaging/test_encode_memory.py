"""Encoding streams: a large JPEG result is written without holding the image (or its DCT coefficients)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from enhanceit.imaging.formats import JPEG_OPTIMIZE_MAX_PIXELS

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from enhanceit.imaging.decode import Decoded
    from enhanceit.imaging.encode import encode
    from enhanceit.imaging.probe import ImageInfo
    from enhanceit.imaging.raster import Raster, RasterInfo
    from enhanceit.allocator import tune_allocator

    tune_allocator()
    side, work = int(sys.argv[1]), Path(sys.argv[2])
    raster = Raster.create(work / "result.raw", RasterInfo(side, side, 3, "uint8"))
    rng = np.random.default_rng(0)
    row = np.repeat(rng.integers(0, 255, (1, side, 3), dtype=np.uint8), 64, axis=0)  # texture, 64 rows a go
    for y in range(0, side, 64):
        raster.write_rows(y, row[: min(64, side - y)])
    info = ImageInfo("png", side, side, 3, "uchar", "srgb", 1, False, False)
    decoded = Decoded(raster=raster, info=info, icc=None, gray=False, alpha=False)
    encode(raster, decoded, side, side, "jpeg", work / "out.jpg")
    # VmHWM, not ru_maxrss: after exec ru_maxrss still counts the forking (pytest) process's pages
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(int(hwm.split()[1]) // 1024)
    """
)


def test_a_large_jpeg_is_encoded_in_bounded_memory(tmp_path: Path) -> None:
    side = 6144  # 37.7 MP: optimised Huffman coding would keep ~460 MB of coefficients
    assert side * side > JPEG_OPTIMIZE_MAX_PIXELS
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(side), str(tmp_path)], capture_output=True, text=True, check=True
    )
    peak_mb = int(run.stdout.strip().splitlines()[-1])
    assert (tmp_path / "out.jpg").stat().st_size > 0
    assert peak_mb < 200, f"peak RSS {peak_mb} MB"
