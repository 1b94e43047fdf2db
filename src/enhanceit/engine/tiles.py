"""Run one network over a whole image, a strip of tiles at a time, from one raster file to another.

How a pass works:

* The image is cut into tiles of a fixed size (a multiple of the net's ``multiple``). Tiles start at 0 and
  step by the tile size; the last tile in a row or column is moved back so that it ends at the image edge,
  so every tile sees only real pixels where the image has them. Images smaller than a tile get one tile,
  rounded up to the multiple.
* Each tile takes ``pad`` pixels of context on every side from its real neighbours; only outside the image
  is context made up, by repeating (``replicate``) or mirroring (``reflect``) the edge.
* A strip of tile rows is read from the source file, converted to float once and shared by its tiles; the
  finished output rows are written straight to the destination file. Memory is a few strips, whatever the
  image size.
* For convolution-only nets the result equals running the whole image at once; nets with
  squeeze-excitation blocks depend on the tile size, which is why the engine fixes it per model.
* With a thread pool, the tiles of a strip run at once, each on its own single-thread extractor, and each
  writes its own columns of the strip's output rows: the same tiles, assembled the same way, as one at a
  time. Independent tiles keep every core busy without the threads of one extraction waiting on each
  other (ncnn's OpenMP threads spin at every layer's barrier, which costs most when cores are shared).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from functools import partial
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from enhanceit.engine.base import FloatImage, Network
from enhanceit.engine.tta import augmented
from enhanceit.imaging.raster import Raster
from enhanceit.models.spec import PadMode

ProgressFn = Callable[[], None]
CheckFn = Callable[[], None]


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_starts(length: int, tile: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``[0, length)``; the last one ends at the edge."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile))
    starts.append(length - tile)
    return starts


def edge_index(start: int, stop: int, length: int, mode: PadMode) -> npt.NDArray[np.intp]:
    """Source indices for positions ``start..stop-1`` of an axis of ``length``, extended past its ends."""
    idx = np.arange(start, stop)
    if mode == "replicate" or length == 1:
        return np.clip(idx, 0, length - 1)
    period = 2 * (length - 1)
    idx = np.abs(idx) % period
    return np.where(idx >= length, period - idx, idx)


def tile_shape(width: int, height: int, tile: int, multiple: int) -> tuple[int, int]:
    """(tile height, tile width) for an image: ``tile``, or less for a small image, kept to the multiple."""
    tile = round_up(tile, multiple)
    return min(tile, round_up(height, multiple)), min(tile, round_up(width, multiple))


def count_tiles(width: int, height: int, tile: int, multiple: int) -> int:
    th, tw = tile_shape(width, height, tile, multiple)
    return len(tile_starts(height, th)) * len(tile_starts(width, tw))


def _to_rgb(rows: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """Three colour bands from a raster's bands (grey, grey+alpha, RGB or RGBA)."""
    bands = rows.shape[2]
    if bands in (1, 2):
        return np.repeat(rows[:, :, :1], 3, axis=2)
    return rows[:, :, :3]


def _read_strip(src: Raster, y0: int, rows: int, cols: int, pad: int, mode: PadMode) -> FloatImage:
    """Float CHW context strip: image rows ``y0-pad .. y0+rows+pad``, columns ``-pad .. cols+pad``."""
    info = src.info
    ys = edge_index(y0 - pad, y0 + rows + pad, info.height, mode)
    xs = edge_index(-pad, cols + pad, info.width, mode)
    lo, hi = int(ys.min()), int(ys.max()) + 1
    block = _to_rgb(src.read_rows(lo, hi))
    strip = block[ys - lo][:, xs]
    out = np.empty((3, strip.shape[0], strip.shape[1]), dtype=np.float32)
    np.multiply(strip.transpose(2, 0, 1), np.float32(1.0 / info.max_value), out=out, casting="unsafe")
    return out


def run_tile(network: Network, tile: FloatImage, tta: int) -> FloatImage:
    """One tile through the net, averaged over ``tta`` flips/rotations (1 = plain)."""
    if tta <= 1:
        return network.run(tile)
    total: FloatImage | None = None
    for forward, inverse in augmented(tta):
        out = inverse(network.run(np.ascontiguousarray(forward(tile))))
        total = out.copy() if total is None else total + out
    assert total is not None
    return (total / np.float32(tta)).astype(np.float32, copy=False)


def run_pass(
    network: Network,
    src: Raster,
    dst: Raster,
    tile: int,
    tta: int = 1,
    on_tile: ProgressFn | None = None,
    check: CheckFn | None = None,
    pool: Executor | None = None,
    in_flight: int = 1,
) -> None:
    """Enhance ``src`` into ``dst`` (``dst`` is ``scale`` times larger, 3 bands, same sample type).

    With ``pool``, up to ``in_flight`` tiles of a strip run at once on it; ``check`` and ``on_tile`` still
    run on the calling thread, between tiles.
    """
    s, pad = network.scale, network.pad
    width, height = src.info.width, src.info.height
    if (dst.info.width, dst.info.height, dst.info.bands) != (s * width, s * height, 3):
        raise ValueError(f"destination {dst.info} does not fit a {s}x pass over {src.info}")
    th, tw = tile_shape(width, height, tile, network.multiple)
    xs, ys = tile_starts(width, tw), tile_starts(height, th)
    cols = xs[-1] + tw
    maxval = dst.info.max_value
    dtype = np.uint8 if dst.info.dtype == "uint8" else np.uint16
    quantise = np.floor if network.truncate else np.rint

    # The last tile of a row is moved back to end at the edge, so it overlaps the one before; that one
    # leaves the overlap to it, as it would be overwritten when tiles run one after another in order.
    stops = [min(x0 + tw, x1) for x0, x1 in pairwise(xs)] + [xs[-1] + tw]

    def enhance(strip: FloatImage, out_rows: npt.NDArray[np.generic], x0: int, x1: int) -> None:
        block = np.ascontiguousarray(strip[:, :, x0 : x0 + tw + 2 * pad])
        result = run_tile(network, block, tta)[:, :, : s * (x1 - x0)]
        np.clip(result, 0.0, 1.0, out=result)
        result *= np.float32(maxval)
        quantise(result, out=result)
        out_rows[:, s * x0 : s * x1] = result.transpose(1, 2, 0)

    for y0 in ys:
        strip = _read_strip(src, y0, th, cols, pad, network.pad_mode)
        out_rows = np.empty((s * th, s * cols, 3), dtype=dtype)
        if pool is None or in_flight <= 1 or len(xs) == 1:
            for x0, x1 in zip(xs, stops, strict=True):
                if check is not None:
                    check()
                enhance(strip, out_rows, x0, x1)
                if on_tile is not None:
                    on_tile()
        else:
            tasks = [partial(enhance, strip, out_rows, x0, x1) for x0, x1 in zip(xs, stops, strict=True)]
            _run_parallel(pool, in_flight, tasks, on_tile, check)
        valid_rows = min(s * th, s * height - s * y0)
        dst.write_rows(s * y0, out_rows[:valid_rows, : s * width])


def _run_parallel(
    pool: Executor,
    in_flight: int,
    tasks: Sequence[Callable[[], None]],
    on_tile: ProgressFn | None,
    check: CheckFn | None,
) -> None:
    """Run ``tasks`` with at most ``in_flight`` at once; on any error (a cancel from ``check`` too) wait
    for the running ones, start no more, and raise it."""
    pending = iter(tasks)
    running: set[Future[None]] = set()
    try:
        while True:
            while len(running) < in_flight and (task := next(pending, None)) is not None:
                if check is not None:
                    check()
                running.add(pool.submit(task))
            if not running:
                return
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
                if on_tile is not None:
                    on_tile()
    finally:
        wait(running)
