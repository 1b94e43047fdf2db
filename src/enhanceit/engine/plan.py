"""From a request (model, noise, target size) to the list of network passes that makes it.

* Scale factors a model has natively (2x; Real-CUGAN 2/3/4x; Real-ESRGAN 4x) are chained: the fewest passes
  whose product reaches the target, then the smallest product, then the cheapest order. Only the first pass
  denoises; later passes use the model's no-denoise net. A Lanczos resize then gives the exact size.
* Models whose scaling nets cannot denoise (waifu2x-chainer VGG7 and ResNet10) run their 1x noise net
  first, then scale, as waifu2x-chainer does.
* Noise reduction alone uses the model's 1x net; models without one (UpConv7) run their noise+2x net and
  the final Lanczos resize brings the image back down.
* No noise reduction and no enlargement: no pass at all, only the resize.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from enhanceit.errors import InvalidRequest, UnsupportedOperation
from enhanceit.models.spec import ModelSpec, Net
from enhanceit.options import check_noise_level

MAX_PASSES = 4


@dataclass(frozen=True)
class Plan:
    passes: tuple[Net, ...]
    #: Size the request asks for; the passes' result is resized to it when it differs.
    width: int
    height: int

    @property
    def native_scale(self) -> int:
        return math.prod(n.scale for n in self.passes)

    @property
    def noise(self) -> int:
        """The noise reduction level that runs (-1: none): the first pass's, as later passes never denoise."""
        return self.passes[0].noise if self.passes else -1


def target_size(
    width: int,
    height: int,
    scale: float | None = None,
    target_width: int | None = None,
    target_height: int | None = None,
) -> tuple[int, int]:
    """Output size for a scale factor, or a width or height (the other side keeps the aspect ratio)."""
    given = [v is not None for v in (scale, target_width, target_height)]
    if sum(given) > 1:
        raise InvalidRequest("give only one of scale, width and height")
    if target_width is not None:
        if target_width <= 0:
            raise InvalidRequest("width must be positive")
        return target_width, max(1, round(height * target_width / width))
    if target_height is not None:
        if target_height <= 0:
            raise InvalidRequest("height must be positive")
        return max(1, round(width * target_height / height)), target_height
    factor = 2.0 if scale is None else scale
    if not factor > 0 or not math.isfinite(factor):
        raise InvalidRequest("scale must be a positive number")
    return max(1, round(width * factor)), max(1, round(height * factor))


def check_noise(spec: ModelSpec, noise: int) -> None:
    check_noise_level(noise)
    if noise >= 0 and noise not in spec.noise_levels:
        levels = ", ".join(str(n) for n in spec.noise_levels if n >= 0) or "none"
        raise UnsupportedOperation(f"{spec.id} has no noise level {noise} (it has: {levels})")


def make_plan(spec: ModelSpec, noise: int, src_w: int, src_h: int, dst_w: int, dst_h: int) -> Plan:
    check_noise(spec, noise)
    ratio = max(dst_w / src_w, dst_h / src_h)
    if ratio <= 1.0:
        if noise < 0:
            return Plan((), dst_w, dst_h)
        one_x = spec.net(1, noise)
        if one_x is not None:
            return Plan((one_x,), dst_w, dst_h)
        if spec.noise_only_via_scale:
            for net in sorted(spec.nets, key=lambda n: n.scale):
                if net.noise == noise:
                    return Plan((net,), dst_w, dst_h)
        raise UnsupportedOperation(f"{spec.id} cannot reduce noise without enlarging")
    return Plan(_chain(spec, noise, ratio), dst_w, dst_h)


def _chain(spec: ModelSpec, noise: int, ratio: float) -> tuple[Net, ...]:
    scales = [s for s in spec.scales if s > 1]
    denoise_first = spec.net(1, noise) if noise >= 0 else None
    best: tuple[tuple[int, int, int], tuple[Net, ...]] | None = None
    for count in range(1, MAX_PASSES + 1):
        for seq in itertools.product(scales, repeat=count):
            product = math.prod(seq)
            if product < ratio - 1e-9:
                continue
            nets: list[Net | None] = [spec.net(seq[0], noise), *(spec.net(s, -1) for s in seq[1:])]
            if nets[0] is None and denoise_first is not None:
                nets = [denoise_first, *(spec.net(s, -1) for s in seq)]  # a separate 1x denoise pass
            if any(n is None for n in nets):
                continue
            # cost: output pixels of every pass, relative to the input
            cost = sum(math.prod(seq[: i + 1]) ** 2 for i in range(count))
            key = (len(nets), product, cost)
            if best is None or key < best[0]:
                best = (key, tuple(n for n in nets if n is not None))
        if best is not None:
            return best[1]
    at = ", ".join(f"{s}x" for s in scales)
    if noise >= 0:
        raise UnsupportedOperation(f"{spec.id} cannot reduce noise at level {noise} while scaling by {ratio:g} ({at})")
    raise UnsupportedOperation(f"{spec.id} cannot scale by {ratio:g} in {MAX_PASSES} passes of {at}")
