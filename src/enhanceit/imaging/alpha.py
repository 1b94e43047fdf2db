"""Colour under transparent pixels, made up from the nearest visible ones before inference.

Fully transparent pixels often hold black or garbage RGB. A network looks at neighbours, so that colour
would bleed into the visible edge of the result as a dark fringe. Each invisible pixel gets instead a
normalised Gaussian average of visible colours around it (a fine blur where visible pixels are close,
wider ones further out); visible pixels, semi-transparent included, keep their colour exactly. Everything
is libvips operations, so it streams with the decode.
"""

from __future__ import annotations

from enhanceit.imaging.vips import pyvips

#: Blur widths, finest last: a finer estimate wins wherever it has enough visible pixels behind it.
SIGMAS = (24.0, 6.0, 1.5)
MIN_WEIGHT = 1e-3


def fill_transparent(rgb: pyvips.Image, alpha: pyvips.Image) -> pyvips.Image:
    visible = alpha > 0  # 255 where visible, 0 where not
    weight = visible / 255.0
    weighted = rgb * weight
    estimate: pyvips.Image | None = None
    for sigma in SIGMAS:
        total = weight.gaussblur(sigma)
        mean = weighted.gaussblur(sigma) / (total + 1e-9)
        estimate = mean if estimate is None else (total > MIN_WEIGHT).ifthenelse(mean, estimate)
    assert estimate is not None
    return visible.ifthenelse(rgb, estimate).cast(rgb.format)
