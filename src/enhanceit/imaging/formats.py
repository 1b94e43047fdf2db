"""Every image format in one table; formats are told by their bytes, never by a name or a Content-Type.

:data:`FORMATS` holds, per format, what every other part of the program needs to know about it: its file
extension and the other suffixes that name it, its media type, whether and how it is written (the saver,
its default quality, the largest side it can hold, whether its encoder needs the whole frame in memory)
and what it does with animations: whether an animation in it is read as one (every frame), whether one can
be written to it, and which format an animation read from it becomes when no format is asked for. The
CLI's ``--format`` choices and folder filter, the output limits, the encoder and the storage keys are all
derived from it. To add a format, add a row here (and to the
``InputFormat``/``OutputFormat`` literals, which the API schema is built from; a test checks they agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from pathlib import Path

InputFormat = Literal["png", "jpeg", "webp", "gif", "tiff", "bmp", "heif", "avif"]
OutputFormat = Literal["png", "webp", "jpeg", "avif", "gif"]

#: ``saver(image, path, quality, sixteen, keep)``: write a libvips image (already composed: size, bands,
#: profile) to ``path``. ``quality`` None means the format's default; ``sixteen`` asks for 16-bit samples
#: where the format has them; ``keep`` is the libvips metadata flags to keep (the ICC profile).
Saver = Callable[[Any, "Path", "int | None", bool, int], None]

#: libjpeg's optimised Huffman tables (about 5% smaller files) need a second pass over every DCT
#: coefficient of the image, which it keeps in memory: 463 MB for a 6144x6144 JPEG (34 MB without).
#: Above this many pixels (about 100 MB of coefficients at quality 90, no chroma subsampling) files are
#: written in one streaming pass with the standard tables.
JPEG_OPTIMIZE_MAX_PIXELS = 8_388_608


def _save_png(image: Any, path: Path, quality: int | None, sixteen: bool, keep: int) -> None:
    image.pngsave(str(path), compression=6, bitdepth=16 if sixteen else 8, keep=keep)


def _save_webp(image: Any, path: Path, quality: int | None, sixteen: bool, keep: int) -> None:
    if quality is None:  # lossless unless a quality is asked for
        image.webpsave(str(path), lossless=True, effort=2, keep=keep)
    else:
        image.webpsave(str(path), Q=quality, effort=4, keep=keep)


def _save_jpeg(image: Any, path: Path, quality: int | None, sixteen: bool, keep: int) -> None:
    optimize = image.width * image.height <= JPEG_OPTIMIZE_MAX_PIXELS
    image.jpegsave(str(path), Q=quality or FORMATS["jpeg"].default_quality, optimize_coding=optimize, keep=keep)


def _save_gif(image: Any, path: Path, quality: int | None, sixteen: bool, keep: int) -> None:
    # libvips quantises to a palette (libimagequant) frame by frame; ``quality`` has no meaning for GIF.
    image.gifsave(str(path), effort=7, keep=keep)


def _save_avif(image: Any, path: Path, quality: int | None, sixteen: bool, keep: int) -> None:
    image.heifsave(str(path), compression="av1", Q=quality or FORMATS["avif"].default_quality, effort=2, keep=keep)


@dataclass(frozen=True)
class Format:
    name: str
    #: As messages name it.
    label: str
    media_type: str
    #: The extension results get, then any other suffix that names such a file.
    suffixes: tuple[str, ...]
    #: Writes it; None for formats read only.
    saver: Saver | None = None
    #: Other names ``--format``/``format`` accept for it.
    aliases: tuple[str, ...] = ()
    #: The largest width or height its encoder can write.
    max_side: int = 2**31 - 1
    #: The encoder holds the whole frame in memory (capped by ``max_whole_frame_pixels``); otherwise rows
    #: stream through it.
    whole_frame: bool = False
    default_quality: int | None = None
    #: An animation in this format is read as one, every frame composited (otherwise its first frame).
    reads_animation: bool = False
    #: An animation can be written in this format (the saver takes one tall image with ``page-height``).
    writes_animation: bool = False
    #: Its animation encoder keeps what it made of every frame until the end (libwebp's does, about 3.5 MB a
    #: 640x480 frame measured; libvips' GIF saver quantises and writes frame by frame): the whole-frame cap
    #: then counts frames x width x height.
    keeps_every_frame: bool = False
    #: What an animation read from this format becomes when no output format is asked for.
    animation_becomes: str | None = None

    @property
    def extension(self) -> str:
        return self.suffixes[0]

    @property
    def writable(self) -> bool:
        return self.saver is not None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        # APNG is read (with Pillow); no maintained encoder writes it one frame at a time, so it becomes WebP.
        Format("png", "PNG", "image/png", (".png",), _save_png, reads_animation=True, animation_becomes="webp"),
        Format(
            "webp",
            "WebP",
            "image/webp",
            (".webp",),
            _save_webp,
            max_side=16383,
            whole_frame=True,
            default_quality=90,
            reads_animation=True,
            writes_animation=True,
            keeps_every_frame=True,
            animation_becomes="webp",
        ),
        Format(
            "jpeg",
            "JPEG",
            "image/jpeg",
            (".jpg", ".jpeg"),
            _save_jpeg,
            aliases=("jpg",),
            max_side=65535,
            default_quality=90,
        ),
        Format(
            "avif", "AVIF", "image/avif", (".avif",), _save_avif, max_side=65536, whole_frame=True, default_quality=60
        ),
        Format(
            "gif",
            "GIF",
            "image/gif",
            (".gif",),
            _save_gif,
            max_side=65535,
            whole_frame=True,
            reads_animation=True,
            writes_animation=True,
            animation_becomes="gif",
        ),
        Format("tiff", "TIFF", "image/tiff", (".tif", ".tiff")),
        Format("bmp", "BMP", "image/bmp", (".bmp",)),
        Format("heif", "HEIC/HEIF", "image/heif", (".heic", ".heif")),
    )
}

OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
#: Every name an output format goes by (``jpg`` as well as ``jpeg``), as the CLI offers them.
OUTPUT_NAMES: dict[str, OutputFormat] = {
    alias: name for name in OUTPUT_FORMATS for alias in (name, *FORMATS[name].aliases)
}
#: Other names of output formats: ``jpg`` for ``jpeg``.
FORMAT_ALIASES: dict[str, OutputFormat] = {alias: name for alias, name in OUTPUT_NAMES.items() if alias != name}
#: File suffixes of every format read, for picking images out of a folder.
IMAGE_SUFFIXES: frozenset[str] = frozenset(s for f in FORMATS.values() for s in f.suffixes)
#: For messages: "PNG, JPEG, …".
READABLE = ", ".join(f.label for f in FORMATS.values())
#: Bytes needed by :func:`sniff`.
SNIFF_BYTES = 32

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> InputFormat | None:
    """The format of an image from its first bytes, or None when it is none we accept."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 18:
        return "bmp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return "avif"
        if brand in _HEIF_BRANDS:
            return "heif"
    return None


def output_format(name: str) -> OutputFormat:
    """An output format from a name a user gave (``jpg`` is ``jpeg``); ValueError naming the choices."""
    try:
        return OUTPUT_NAMES[name.lower()]
    except KeyError:
        raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}") from None


#: Output formats that can hold an animation, for messages: "webp or gif".
ANIMATED_OUTPUTS: tuple[OutputFormat, ...] = tuple(f for f in OUTPUT_FORMATS if FORMATS[f].writes_animation)


def extension(fmt: OutputFormat) -> str:
    return FORMATS[fmt].extension


def media_type(fmt: str) -> str:
    return FORMATS[fmt].media_type
