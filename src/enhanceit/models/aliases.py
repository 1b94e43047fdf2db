"""``photo`` and ``art``: names for "the best model for this kind of picture", chosen by measurement.

An alias is an ordered list of concrete models per range of scale factors. A request resolves to the first
of them that can do it (its noise level at its scale) and that this server may run; the job records the
concrete id, so a result always says which network made it.

Why these (``make bench``, quality table: PSNR gain over bicubic on four scikit-image photos
box-downscaled, and seconds per input megapixel on 2 cores, measured 2026-12-01 and, for ``photo`` above
2x, 2026-12-04 with :mod:`bench.noise` and ``make bench --only photos``):

* ``photo`` up to 2x: waifu2x UpConv7-photo. It beat SPAN on every photo (+3.9 dB against +2.7 dB over
  bicubic on average) and ran about twice as fast (7 s against 13-18 s per MP).
* ``photo`` above 2x: UpConv7-photo too, in two passes (2x, then 2x on four times the pixels), since
  2026-12-04 (issue 21): SPAN, chosen before for its one 4x pass, has no noise levels and made JPEGs worse
  than bicubic at 4x (-0.2 dB at quality 75), and on clean photos it gains less (4x, astronaut and coffee:
  +1.80 and +1.22 dB against UpConv7's +2.72 and +1.75). With OpenVINO bf16 and UpConv7's own tile (128),
  UpConv7 at 4x takes 1.54 s for a 480x270 photo as a whole process against SPAN's 0.98 s and Real-ESRGAN
  x4plus' 5.59 s (3.6x as fast; the floor is 3x). CUnet in two passes gains 0.2-0.4 dB more but is only
  2.5x as fast as Real-ESRGAN; Real-CUGAN se (4.6x) is trained on anime and gains less on photos (JPEG 92
  at 4x: +1.03 and +0.89 dB). SPAN stays as the fallback where UpConv7 is not enabled.
* ``art`` up to 2x: waifu2x CUnet, the best waifu2x for illustrations (also the best at 2x on photos).
* ``art`` above 2x: Real-CUGAN se, trained on anime, with native 3x and 4x nets: CUnet would need two
  passes, the second on four times the pixels (Real-CUGAN 4x: 40 s per MP; CUnet 2x twice: 229 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Alias:
    name: str
    title: str
    summary: str
    #: (largest scale factor, model ids in order of preference), by increasing scale.
    choices: tuple[tuple[float, tuple[str, ...]], ...]

    def candidates(self, ratio: float) -> tuple[str, ...]:
        for bound, ids in self.choices:
            if ratio <= bound + 1e-9:
                return ids
        return self.choices[-1][1]

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i for _, ids in self.choices for i in ids))


PHOTO = Alias(
    name="photo",
    title="Photo",
    summary="Fast, faithful enlargement of photographs, JPEG noise reduction included (waifu2x UpConv7-photo).",
    choices=((math.inf, ("waifu2x-upconv7-photo", "span")),),
)

ART = Alias(
    name="art",
    title="Art",
    summary="Illustrations, anime and drawings (waifu2x CUnet up to 2x, Real-CUGAN above).",
    choices=(
        (2.0, ("waifu2x-cunet", "realcugan-se")),
        (math.inf, ("realcugan-se", "waifu2x-cunet")),
    ),
)

ALIASES: dict[str, Alias] = {a.name: a for a in (PHOTO, ART)}
