"""What an image is, from its header alone: format, displayed size, bands, depth, orientation.

Nothing here decodes pixels, so limits can be checked before a decompression bomb costs anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from enhanceit.errors import UndecodableImage, UnsupportedFormat
from enhanceit.imaging import bmp, isobmff, jpegquality
from enhanceit.imaging.formats import FORMATS, READABLE, SNIFF_BYTES, InputFormat, sniff
from enhanceit.imaging.vips import has_field, pyvips


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


def vips_error_line(error: Exception) -> str:
    """The useful line of a libvips error, without file paths (they are ours, not the user's)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in reversed(lines):
        if ":" in line and not line.startswith("unable to"):
            return line.split(":", 1)[1].strip()[:200]
    return lines[-1][:200] if lines else "decoder error"


def probe(path: Path) -> ImageInfo:
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    fmt = sniff(head)
    if fmt is None:
        raise UnsupportedFormat(f"not an image in a supported format ({READABLE})")
    if fmt == "bmp":
        h = bmp.read_header(path)
        return ImageInfo(fmt, h.width, h.height, 4 if h.has_alpha else 3, "uchar", "srgb", 1, h.has_alpha, False)
    try:
        image = pyvips.Image.new_from_file(str(path), access="sequential")
    except pyvips.Error as e:
        if fmt == "webp" and _riff_cut_short(path, head):
            raise UndecodableImage("the WebP data ends early; a cut-short WebP cannot be decoded in part") from None
        raise UndecodableImage(f"cannot read the {fmt.upper()} header: {vips_error_line(e)}") from None
    codec = str(image.get("heif-compression")) if has_field(image, "heif-compression") else ""
    orientation = int(image.get("orientation")) if has_field(image, "orientation") else 1
    if not 1 <= orientation <= 8:
        orientation = 1
    width, height = image.width, image.height
    pages = int(image.get("n-pages")) if has_field(image, "n-pages") else 1
    if fmt == "gif" and has_field(image, "page-height"):
        height = int(image.get("page-height"))
    if codec:
        orientation = 1  # libheif applies the HEIF transforms; an EXIF tag repeats them and must not count
    if orientation >= 5:
        width, height = height, width
    frames = 1
    if FORMATS[fmt].reads_animation:
        frames = _apng_frames(path) if fmt == "png" else pages
    decoder_pixels = isobmff.decoded_pixels(path) if fmt in ("heif", "avif") else 0
    quality = jpegquality.estimate(path) if fmt == "jpeg" else None
    lossy = fmt in ("jpeg", "heif", "avif") or (fmt == "webp" and _webp_lossy(path))
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        bands=image.bands,
        sample=str(image.format),
        interpretation=str(image.interpretation),
        orientation=orientation,
        has_alpha=bool(image.hasalpha()),
        has_icc=has_field(image, "icc-profile-data"),
        pages=pages,
        codec=codec,
        frames=frames,
        decoder_pixels=decoder_pixels,
        lossy=lossy,
        quality=quality,
    )


def _webp_lossy(path: Path) -> bool:
    """Whether a WebP's (first) image is VP8-coded, lossy, rather than VP8L, lossless. RIFF chunks are a
    4-character type, a little-endian 32-bit size and the data, padded to an even size; an extended file
    (``VP8X``) has other chunks first, and an animation's first frame (``ANMF``) holds its bitstream after
    16 bytes of frame header."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    pos = 12
    while pos + 8 <= len(head):
        kind, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if kind in (b"VP8 ", b"VP8L"):
            return kind == b"VP8 "
        pos = pos + 8 + 16 if kind == b"ANMF" else pos + 8 + size + (size & 1)
    return False


def _apng_frames(path: Path) -> int:
    """Frames of an APNG from its ``acTL`` chunk, as Pillow reads it (libvips sees only the still image)."""
    from PIL import Image

    try:
        with Image.open(path, formats=["PNG"]) as image:
            return int(getattr(image, "n_frames", 1)) if getattr(image, "is_animated", False) else 1
    except Image.DecompressionBombError:
        return 1  # far past the input pixel limit, which refuses it from libvips' reading of the header
    except (OSError, ValueError, SyntaxError) as e:
        raise UndecodableImage(f"cannot read the APNG header: {str(e)[:200]}") from None


def _riff_cut_short(path: Path, head: bytes) -> bool:
    """A RIFF file (WebP) shorter than its own header says: cut short, typically by a broken download."""
    declared = int.from_bytes(head[4:8], "little") + 8
    return path.stat().st_size < declared
