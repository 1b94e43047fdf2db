"""Every image format in one table; formats are told by their bytes, never by a name or a Content-Type.

:data:`FORMATS` holds, per format, what every other part of the program needs to know about it:

* how it is recognised (the magic bytes :func:`sniff` looks for) and read (its reader in
  :mod:`enhanceit.imaging.readers`, which also knows its end marker and its quirks);
* its file extension and the other suffixes that name it, its media type;
* whether and how it is written: the saver, its default quality, the largest side it can hold, whether its
  encoder needs the whole frame in memory, whether it holds alpha, 16-bit samples, EXIF and XMP;
* what it does with animations: whether one in it is read as one (every frame), whether one can be
  written to it, and which format an animation read from it becomes when no format is asked for.

Everything else is derived from it: the ``InputFormat``/``OutputFormat`` types the API schema is built
from, the CLI's ``--format`` choices and folder filter, the ``Accept`` header of fetches, the web page's
format list and ``GET /v1/formats``, the output limits, the encoder and the storage keys. To add a format,
add a row here (and its reader, if libvips' own will not do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pathlib import Path

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
class Magic:
    """Bytes a file of a format starts with: each ``(offset, bytes)`` pair must match, in a head of at least
    ``length`` bytes."""

    parts: tuple[tuple[int, bytes], ...]
    length: int = 0

    def matches(self, head: bytes) -> bool:
        return len(head) >= self.length and all(head[at : at + len(b)] == b for at, b in self.parts)


def _starts(*prefixes: bytes, length: int = 0) -> tuple[Magic, ...]:
    return tuple(Magic(((0, prefix),), length) for prefix in prefixes)


def _brands(*brands: bytes) -> tuple[Magic, ...]:
    """An ISO-BMFF file (HEIF, AVIF) whose ``ftyp`` box names one of ``brands`` as its major brand."""
    return tuple(Magic(((4, b"ftyp"), (8, brand))) for brand in brands)


@dataclass(frozen=True)
class Format:
    name: str
    #: As messages name it.
    label: str
    media_type: str
    #: The extension results get, then any other suffix that names such a file.
    suffixes: tuple[str, ...]
    #: What its files start with (any one of these).
    magic: tuple[Magic, ...]
    #: Its reader's name in :data:`enhanceit.imaging.readers.READERS`.
    reader: str = "libvips"
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
    #: Written with an alpha channel (a JPEG is flattened on white).
    alpha: bool = True
    #: Written with 16-bit samples when the input has them (else 8).
    sixteen_bit: bool = False
    #: Its files hold EXIF and XMP, which ``metadata`` may carry over.
    holds_metadata: bool = True

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
        Format(
            "png",
            "PNG",
            "image/png",
            (".png",),
            _starts(b"\x89PNG\r\n\x1a\n"),
            "png",
            _save_png,
            reads_animation=True,
            animation_becomes="webp",
            sixteen_bit=True,
        ),
        Format(
            "webp",
            "WebP",
            "image/webp",
            (".webp",),
            (Magic(((0, b"RIFF"), (8, b"WEBP"))),),
            "webp",
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
            _starts(b"\xff\xd8\xff"),
            "jpeg",
            _save_jpeg,
            aliases=("jpg",),
            max_side=65535,
            default_quality=90,
            alpha=False,
        ),
        Format(
            "avif",
            "AVIF",
            "image/avif",
            (".avif",),
            _brands(b"avif", b"avis"),
            "heif",
            _save_avif,
            max_side=65536,
            whole_frame=True,
            default_quality=60,
        ),
        Format(
            "gif",
            "GIF",
            "image/gif",
            (".gif",),
            _starts(b"GIF87a", b"GIF89a"),
            "gif",
            _save_gif,
            max_side=65535,
            whole_frame=True,
            reads_animation=True,
            writes_animation=True,
            animation_becomes="gif",
            holds_metadata=False,
        ),
        Format("tiff", "TIFF", "image/tiff", (".tif", ".tiff"), _starts(b"II*\x00", b"MM\x00*")),
        # 18 bytes: the file header and the DIB header's size, which says which of its versions follows
        Format("bmp", "BMP", "image/bmp", (".bmp",), _starts(b"BM", length=18), "bmp"),
        Format(
            "heif",
            "HEIC/HEIF",
            "image/heif",
            (".heic", ".heif"),
            _brands(b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"),
            "heif",
        ),
    )
}

# The names as types. At run time they are literals built from the table, which the API schema lists
# (pydantic checks a request against them); a type checker cannot evaluate that, and sees plain strings.
if TYPE_CHECKING:
    InputFormat = str
    OutputFormat = str
else:
    InputFormat = Literal[tuple(FORMATS)]
    OutputFormat = Literal[tuple(name for name, f in FORMATS.items() if f.writable)]

INPUT_FORMATS: tuple[InputFormat, ...] = tuple(FORMATS)
OUTPUT_FORMATS: tuple[OutputFormat, ...] = tuple(name for name, f in FORMATS.items() if f.writable)
#: What a result is when nothing else decides: lossless, and every browser shows it.
DEFAULT_OUTPUT: OutputFormat = "png"
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


def sniff(head: bytes) -> InputFormat | None:
    """The format of an image from its first bytes, or None when it is none we accept."""
    for name, row in FORMATS.items():
        if any(magic.matches(head) for magic in row.magic):
            return name
    return None


def accept_header() -> bytes:
    """The ``Accept`` header of an image fetch: the formats written first (a server that can choose should
    send one a result can also be), then those only read, then any other image, which is sniffed anyway."""
    written = [f.media_type for f in FORMATS.values() if f.writable]
    read = [f.media_type for f in FORMATS.values() if not f.writable]
    return ",".join([*written, *(f"{t};q=0.9" for t in read), "image/*;q=0.8"]).encode()


def catalog() -> list[dict[str, Any]]:
    """The table as ``GET /v1/formats`` and the web page show it."""
    return [
        {
            "name": f.name,
            "label": f.label,
            "media_type": f.media_type,
            "extension": f.extension.lstrip("."),
            "read": True,
            "written": f.writable,
            "quality": f.default_quality is not None,
            "default_quality": f.default_quality,
            "alpha": f.alpha and f.writable,
            "animation": f.writes_animation,
            "max_side": f.max_side if f.writable else None,
        }
        for f in FORMATS.values()
    ]


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
