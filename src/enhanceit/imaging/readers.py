"""How each format's files are read: the header (nothing decoded), the pixels, an animation's frames.

A format's row in :data:`enhanceit.imaging.formats.FORMATS` names its reader; :data:`READERS` holds them.
Most formats are read by libvips alone (:class:`Libvips`); a format's quirks live in its own reader:

* PNG: an APNG's frames are counted and read by Pillow (libvips sees only the still image); its end
  marker is the IEND chunk.
* JPEG: the quality its encoder was set to, from the quantisation tables (what ``noise: auto`` goes by);
  its end marker is EOI, found by walking the segments.
* GIF: its end marker is the trailer byte.
* WebP: lossy or lossless from the bitstream's chunk; a file shorter than its RIFF header says cannot be
  decoded in part, and is refused as such.
* HEIF and AVIF: libvips reads the header; HEVC pixels come from pillow-heif
  (:mod:`enhanceit.imaging.heif`); the decoder's own size comes from the item boxes
  (:mod:`enhanceit.imaging.isobmff`), since a grid decodes larger than it shows.
* BMP: Pillow's parser, one band of rows at a time (:mod:`enhanceit.imaging.bmp`): libvips has no BMP
  loader that streams.

A reader never lets a foreign error out: libvips' and Pillow's become :class:`UndecodableImage` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from enhanceit.errors import UndecodableImage
from enhanceit.imaging import bmp, ends, heif, isobmff, jpegquality
from enhanceit.imaging.formats import FORMATS, Format
from enhanceit.imaging.info import ImageInfo
from enhanceit.imaging.stream import StreamedRaster
from enhanceit.imaging.vips import has_field, pyvips, reading

#: A frame's time when the file gives none (browsers show 0 and 10 ms frames for 100 ms).
DEFAULT_DELAY_MS = 100


@dataclass
class Loaded:
    """A loaded image, what it reads its pixels from (kept alive until they are written), and what the
    user should know about it."""

    image: pyvips.Image
    keep: list[object] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Timing:
    """How an animation plays: each frame's duration in ms, and how many times it plays (0: for ever)."""

    delays: list[int] = field(default_factory=list)
    loop: int = 0


class Libvips:
    """A format libvips reads: its header without decoding, its pixels in one streaming pass."""

    #: The coding always loses detail (JPEG, HEIC, AVIF); what ``noise: auto`` goes by.
    lossy = False
    #: Whether the file stops before its end marker (None: this format's end cannot be told).
    ends_early: Callable[[Path], bool] | None = None

    def header(self, path: Path, row: Format) -> ImageInfo:
        with reading(f"cannot read the {row.name.upper()} header"):
            image = pyvips.Image.new_from_file(str(path), access="sequential")
        orientation = self.orientation(image)
        width, height = image.width, image.height
        pages = int(image.get("n-pages")) if has_field(image, "n-pages") else 1
        if row.reads_animation and has_field(image, "page-height"):
            height = int(image.get("page-height"))
        if orientation >= 5:
            width, height = height, width
        return ImageInfo(
            format=row.name,
            width=width,
            height=height,
            bands=image.bands,
            sample=str(image.format),
            interpretation=str(image.interpretation),
            orientation=orientation,
            has_alpha=bool(image.hasalpha()),
            has_icc=has_field(image, "icc-profile-data"),
            pages=pages,
            codec=str(image.get("heif-compression")) if has_field(image, "heif-compression") else "",
            frames=self.frames_in(path, pages) if row.reads_animation else 1,
            decoder_pixels=self.decoder_pixels(path),
            lossy=self.is_lossy(path),
            quality=self.quality(path),
        )

    def orientation(self, image: pyvips.Image) -> int:
        """The EXIF orientation to apply (1: none)."""
        value = int(image.get("orientation")) if has_field(image, "orientation") else 1
        return value if 1 <= value <= 8 else 1

    def frames_in(self, path: Path, pages: int) -> int:
        """Frames of an animation, for a format that reads them: libvips' pages."""
        return pages

    def decoder_pixels(self, path: Path) -> int:
        """Pixels the decoder holds at most, where more than shown (0: the shown size)."""
        return 0

    def quality(self, path: Path) -> int | None:
        """The quality the file was encoded at, where the format records it."""
        return None

    def is_lossy(self, path: Path) -> bool:
        return self.lossy

    def cut_short(self, path: Path) -> bool:
        """Whether the file stops before its end marker, so that a failed decode can be retried leniently
        and shown with the rows that arrived."""
        return self.ends_early is not None and self.ends_early(path)

    def load(self, path: Path, info: ImageInfo, workdir: Path, fail_on: str) -> Loaded:
        """The pixels, oriented, for one streaming pass (``fail_on``: libvips' strictness)."""
        access = "sequential" if info.orientation == 1 else "random"
        image = pyvips.Image.new_from_file(str(path), access=access, fail_on=fail_on)
        return Loaded(image.autorot() if info.orientation != 1 else image)

    def frames(self, path: Path, info: ImageInfo, timing: Timing) -> Iterator[pyvips.Image]:
        """Every frame of the animation, composited, in order; ``timing`` is filled as they come. Each is a
        libvips image to be used (written out) before the next is asked for."""
        with reading(f"cannot read the {info.format.upper()} animation"):
            tall = pyvips.Image.new_from_file(str(path), n=-1, access="sequential", fail_on="error")
            height = int(tall.get("page-height")) if has_field(tall, "page-height") else tall.height
            delays = [int(d) for d in tall.get("delay")] if has_field(tall, "delay") else []
            timing.loop = int(tall.get("loop")) if has_field(tall, "loop") else 0
        frames = tall.height // height
        if (tall.width, height, frames) != (info.width, info.height, info.frames):
            raise UndecodableImage(f"the {info.format.upper()} animation's frames differ from its header")
        for k in range(frames):
            timing.delays.append(delays[k] if k < len(delays) else DEFAULT_DELAY_MS)
            yield tall.crop(0, k * height, tall.width, height)


class Png(Libvips):
    ends_early = staticmethod(ends.png_cut_short)

    def frames_in(self, path: Path, pages: int) -> int:
        """Frames of an APNG from its ``acTL`` chunk, as Pillow reads it (libvips sees only the still image)."""
        from PIL import Image

        try:
            with Image.open(path, formats=["PNG"]) as image:
                return int(getattr(image, "n_frames", 1)) if getattr(image, "is_animated", False) else 1
        except Image.DecompressionBombError:
            return 1  # far past the input pixel limit, which refuses it from libvips' reading of the header
        except (OSError, ValueError, SyntaxError) as e:
            raise UndecodableImage(f"cannot read the APNG header: {str(e)[:200]}") from None

    def frames(self, path: Path, info: ImageInfo, timing: Timing) -> Iterator[pyvips.Image]:
        from PIL import Image

        try:
            with Image.open(path, formats=["PNG"]) as image:
                timing.loop = int(image.info.get("loop", 0))
                for k in range(info.frames):
                    image.seek(k)
                    timing.delays.append(round(float(image.info.get("duration", DEFAULT_DELAY_MS))))
                    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
                    mode = "RGBA" if has_alpha else "RGB"
                    if image.size != (info.width, info.height):
                        raise UndecodableImage("the APNG's frames differ from its header")
                    # One copy beside Pillow's canvas: its bytes, which libvips reads in place. Converting an
                    # RGBA canvas to RGBA, then an array, then bytes made three more (a 6320x6320 APNG peaked
                    # at 1 GB).
                    pixels = (image if image.mode == mode else image.convert(mode)).tobytes()
                    yield pyvips.Image.new_from_memory(pixels, info.width, info.height, len(mode), "uchar").copy(
                        interpretation="srgb"
                    )
                    del pixels
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
            raise UndecodableImage(f"cannot decode the APNG: {str(e)[:200]}") from None


class Jpeg(Libvips):
    lossy = True
    ends_early = staticmethod(ends.jpeg_cut_short)

    def quality(self, path: Path) -> int | None:
        return jpegquality.estimate(path)


class Gif(Libvips):
    ends_early = staticmethod(ends.gif_cut_short)


class Webp(Libvips):
    def header(self, path: Path, row: Format) -> ImageInfo:
        try:
            return super().header(path, row)
        except UndecodableImage:
            if ends.riff_cut_short(path):  # libvips cannot decode a WebP in part: say why rather than how
                raise UndecodableImage("the WebP data ends early; a cut-short WebP cannot be decoded in part") from None
            raise

    def is_lossy(self, path: Path) -> bool:
        """Whether the (first) image is VP8-coded, lossy, rather than VP8L, lossless. RIFF chunks are a
        4-character type, a little-endian 32-bit size and the data, padded to an even size; an extended file
        (``VP8X``) has other chunks first, and an animation's first frame (``ANMF``) holds its bitstream
        after 16 bytes of frame header."""
        with path.open("rb") as f:
            head = f.read(1 << 16)
        pos = 12
        while pos + 8 <= len(head):
            kind, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
            if kind in (b"VP8 ", b"VP8L"):
                return kind == b"VP8 "
            pos = pos + 8 + 16 if kind == b"ANMF" else pos + 8 + size + (size & 1)
        return False


class Heif(Libvips):
    """HEIC and AVIF: libheif in libvips for the header and AV1; pillow-heif for HEVC's pixels."""

    lossy = True

    def orientation(self, image: pyvips.Image) -> int:
        # libheif applies the HEIF transforms (irot, imir); an EXIF tag repeats them and must not count
        return 1 if has_field(image, "heif-compression") else super().orientation(image)

    def decoder_pixels(self, path: Path) -> int:
        return isobmff.decoded_pixels(path)

    def load(self, path: Path, info: ImageInfo, workdir: Path, fail_on: str) -> Loaded:
        if info.codec != "hevc":
            return super().load(path, info, workdir, fail_on)
        loaded = heif.load(path)
        return Loaded(loaded.image, loaded.keep, loaded.warnings)


class Bmp(Libvips):
    """Pillow's BMP parser for the header, the rows decoded a band at a time into a raster libvips streams."""

    def header(self, path: Path, row: Format) -> ImageInfo:
        h = bmp.read_header(path)
        return ImageInfo(row.name, h.width, h.height, 4 if h.has_alpha else 3, "uchar", "srgb", 1, h.has_alpha, False)

    def load(self, path: Path, info: ImageInfo, workdir: Path, fail_on: str) -> Loaded:
        raster = bmp.decode_to_raster(path, workdir / "bmp.raw")
        streamed = StreamedRaster(raster)
        return Loaded(streamed.image, [raster, streamed])


#: Every reader by the name a format's row gives.
READERS: dict[str, Libvips] = {
    "libvips": Libvips(),
    "png": Png(),
    "jpeg": Jpeg(),
    "gif": Gif(),
    "webp": Webp(),
    "heif": Heif(),
    "bmp": Bmp(),
}


def reader(fmt: str) -> Libvips:
    """The reader of the format named ``fmt`` (a row of the formats table)."""
    return READERS[FORMATS[fmt].reader]
