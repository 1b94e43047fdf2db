"""``noise: auto``: the noise reduction level for an input, from how it was saved, per model (or family).

What a lossy encoder leaves (a JPEG's 8x8 blocks and ringing, the smoothing of WebP, HEIC and AVIF) is what an
upscaler enlarges first, and each model family's noise levels were trained against a range of JPEG qualities.
The level is chosen from the file's header alone (no pixel decoded):

* a JPEG: its quality as the encoder was set, estimated from its quantization tables
  (:mod:`enhanceit.imaging.jpegquality`), looked up in :data:`JPEG_LEVELS`;
* a lossy WebP, a HEIC or an AVIF: one level, :data:`OTHER_LOSSY`;
* anything lossless (PNG, lossless WebP, BMP, TIFF, GIF): no noise reduction.

The tables come from ``make bench --only noise`` (:mod:`bench.noise`): PSNR gain over bicubic on four photos,
downscaled, saved at each quality, then enlarged, for every level. A model whose levels lack the one wanted
gets the nearest weaker one (Real-CUGAN pro has 0 and 3 only); a model without noise levels gets none, and an
alias then prefers a candidate that has them (:func:`enhanceit.engine.choose.choose`).
"""

from __future__ import annotations

#: By model id, else family: (lowest quality, level) from the highest quality down. Read from the 2x and 4x
#: tables (the level with the best mean gain; where two are within 0.05 dB, the weaker):
#:
#: * UpConv7-photo gains most from its strongest levels: 3 up to q75 (a JPEG of a JPEG too), 2 at q85, 0 from
#:   q92 (0 still beats none at q97, by 0.1-0.2 dB);
#: * CUnet: 2 at q50-60, 1 from q75 to q92, 0 at q97;
#: * waifu2x-chainer's UpConv7: 1 up to q75, 0 from q85;
#: * Real-CUGAN: its "conservative" net (0) beat no denoising by 0.8-1.1 dB at every quality, q99 included,
#:   and levels 1-3 lost to it everywhere (up to 2.5 dB at 4x);
#: * at q99 CUnet and waifu2x-chainer did best with none, as on a PNG (UpConv7-photo still with 0).
#:
#: Lossless inputs get none, though UpConv7-photo's 0 and Real-CUGAN's 0 measured better on PNGs too (+0.06 and
#: +1.1 dB at 2x): these photo figures say nothing of the art Real-CUGAN is made for.
JPEG_LEVELS: dict[str, tuple[tuple[int, int], ...]] = {
    "waifu2x-upconv7-photo": ((90, 0), (80, 2), (1, 3)),
    "waifu2x": ((99, -1), (95, 0), (70, 1), (1, 2)),
    "waifu2x-chainer": ((99, -1), (80, 0), (1, 1)),
    "realcugan": ((1, 0),),
}
#: The lossy formats other than JPEG, whose quality is not read: one level, the same for every model that has
#: levels. Measured at 2x at two qualities each (WebP 75 and 90, HEIC 50 and 90, AVIF 50 and 80): level 0
#: beat none everywhere, by 0.2-0.5 dB (Real-CUGAN: 0.9-1.1 dB), and was the best or within 0.1 dB of it
#: except for AVIF at 50, where the stronger levels gained 0.2-0.4 dB more (its quality is not known here).
OTHER_LOSSY: dict[str, int] = {"webp": 0, "heif": 0, "avif": 0}
#: A JPEG whose tables could not be read: treated as saved at this quality (the web's most common).
UNKNOWN_JPEG_QUALITY = 75


def wanted_level(model: str, family: str, fmt: str, lossy: bool, quality: int | None) -> int:
    """The level ``model`` (of ``family``) should run at for an input of format ``fmt`` (-1: none)."""
    if not lossy:
        return -1
    rows = JPEG_LEVELS.get(model) or JPEG_LEVELS.get(family)
    if not rows:
        return -1  # a model without noise levels
    if fmt != "jpeg":
        return OTHER_LOSSY.get(fmt, -1)
    q = quality if quality is not None else UNKNOWN_JPEG_QUALITY
    return next((level for lowest, level in rows if q >= lowest), rows[-1][1])


def nearest_level(wanted: int, levels: tuple[int, ...]) -> int:
    """``wanted``, or the strongest of ``levels`` below it (-1 when there is none)."""
    return max((n for n in levels if n <= wanted), default=-1)
