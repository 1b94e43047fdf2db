"""What an image is, as its header says: the value the limits, the plan and the job record go by."""

from __future__ import annotations

from dataclasses import dataclass

from enhanceit.imaging.formats import InputFormat


@dataclass(frozen=True)
class ImageInfo:
    format: InputFormat
    #: Size as displayed, after EXIF orientation.
    width: int
    height: int
    bands: int
    #: libvips band format: uchar, ushort, float, ...
    sample: str
    interpretation: str
    orientation: int
    has_alpha: bool
    has_icc: bool
    pages: int = 1
    #: The coding inside a HEIF container (``hevc``, ``av1``…); empty for other formats.
    codec: str = ""
    #: Frames of an animation (GIF, WebP, APNG), 1 for a still image; ``width`` x ``height`` is one frame.
    frames: int = 1
    #: Pixels the decoder holds at most, where more than ``width`` x ``height`` (a HEIF grid before its crop).
    decoder_pixels: int = 0
    #: Whether the coding loses detail (JPEG, lossy WebP, HEIC, AVIF): what ``noise: auto`` goes by.
    lossy: bool = False
    #: A JPEG's quality as its encoder was set, estimated from its tables (:mod:`.jpegquality`); else None.
    quality: int | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def animated(self) -> bool:
        return self.frames > 1

    @property
    def gray(self) -> bool:
        return self.interpretation in ("b-w", "grey16")

    @property
    def sixteen_bit(self) -> bool:
        return self.sample == "ushort" or self.interpretation in ("rgb16", "grey16")
