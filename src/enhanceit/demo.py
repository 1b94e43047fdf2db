"""A first run: enhance a generated test card and say where the result is.

Used by ``make run`` until the HTTP service exists; needs nothing but the installed package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from enhanceit.config import load_settings
from enhanceit.engine.runtime import Engine, EngineConfig
from enhanceit.imaging.vips import pyvips
from enhanceit.memory import tune_allocator
from enhanceit.options import EnhanceOptions
from enhanceit.pipeline.process import enhance_file


def test_card(size: int = 256) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    r = 0.5 + 0.5 * np.sin(12 * x + 4 * y)
    g = 0.5 + 0.5 * np.cos(9 * y * y + 3 * x)
    b = ((x * 8).astype(int) + (y * 8).astype(int)) % 2 * 0.6 + 0.2
    return (np.stack([r, g, b], axis=2) * 255).astype(np.uint8)


def main() -> int:
    tune_allocator()
    settings = load_settings()
    out_dir = settings.data_dir / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    card = out_dir / "test-card.png"
    pixels = test_card()
    pyvips.Image.new_from_memory(pixels.tobytes(), pixels.shape[1], pixels.shape[0], 3, "uchar").pngsave(str(card))
    result = out_dir / "test-card-2x.png"
    outcome = enhance_file(card, result, EnhanceOptions(noise=1), Engine(EngineConfig()), settings.limits)
    enc = outcome.encoded
    print(f"input:  {card.resolve()}")
    print(f"result: {Path(enc.path).resolve()} ({enc.width}x{enc.height}, {sum(outcome.timings.values()):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
