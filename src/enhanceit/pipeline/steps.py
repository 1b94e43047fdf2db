"""The steps every image takes, a still image's list of them, and the pieces an animation's frames share.

    STILL:  decode (orient, colour, fill alpha) -> enhance (the plan's passes, tile by tile)
              -> alpha (through the network, when asked) -> encode (resize, alpha, profile, metadata, write)

An animation's frames take :data:`FRAME_STEPS` (enhance, alpha), between reading each frame and composing
it into the output strip (:mod:`enhanceit.pipeline.animated`). Each step is a function of the run and the
frame (:mod:`enhanceit.pipeline.context`); none decides anything the prepared request already holds.
"""

from __future__ import annotations

import numpy as np

from enhanceit.engine.plan import make_plan
from enhanceit.imaging.decode import decode
from enhanceit.imaging.encode import encode
from enhanceit.imaging.raster import Raster, RasterInfo
from enhanceit.pipeline.context import Frame, Run, Step


def decode_input(run: Run, frame: Frame) -> None:
    """The input file decoded into the frame's raster (a cut-short file filled, with a warning)."""
    frame.decoded = decode(run.src, run.prepared.info, frame.work, strict=run.prepared.options.strict)


def enhance(run: Run, frame: Frame) -> None:
    """The decoded colours through the prepared plan's passes."""
    frame.result = run.infer(frame.pixels.raster, frame.work, progress=frame.progress)


def enhance_alpha(run: Run, frame: Frame) -> None:
    """The alpha channel through the same network, when the request has it so (``alpha: network``): a grey
    image in all three bands, through the plan's passes without noise reduction (alpha holds no JPEG
    noise); the result's first band is the alpha, resized to the exact size when encoded."""
    decoded = frame.pixels
    if not (run.prepared.alpha_pass and decoded.alpha):
        return
    info = decoded.raster.info
    grey = Raster.create(frame.work / "alpha-in.raw", RasterInfo(info.width, info.height, 3, info.dtype))
    try:
        rows = max(1, (1 << 20) // max(1, info.row_bytes))
        for y in range(0, info.height, rows):
            band = decoded.raster.read_rows(y, min(info.height, y + rows))[:, :, -1:]
            grey.write_rows(y, np.repeat(band, 3, axis=2))
        plan = run.prepared.plan
        passes = make_plan(run.prepared.model, -1, info.width, info.height, plan.width, plan.height)
        folder = frame.work / "alpha"
        folder.mkdir(exist_ok=True)
        frame.alpha = run.infer(grey, folder, plan=passes)
    finally:
        grey.close()


def encode_output(run: Run, frame: Frame) -> None:
    """The enhanced image written to the destination as the request's format, atomically."""
    p = run.prepared
    assert frame.result is not None
    frame.encoded = encode(
        frame.result,
        frame.pixels,
        p.plan.width,
        p.plan.height,
        p.format,
        run.dst,
        p.options.quality,
        metadata=p.options.metadata,
        alpha=frame.alpha,
    )


#: What every frame's pixels go through, a still image's or an animation's.
FRAME_STEPS = (Step("inference", enhance), Step("inference", enhance_alpha))
#: A still image, from file to file.
STILL = (Step("decode", decode_input), *FRAME_STEPS, Step("encode", encode_output))
