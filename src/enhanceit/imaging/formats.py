"""Image formats by their bytes, never by a file name or a Content-Type header."""

from __future__ import annotations

from typing import Literal

InputFormat = Literal["png", "jpeg", "webp", "gif", "tiff", "bmp", "heif", "avif"]
OutputFormat = Literal["png", "webp", "jpeg", "avif"]

OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("png", "webp", "jpeg", "avif")
EXTENSIONS: dict[str, str] = {"png": ".png", "webp": ".webp", "jpeg": ".jpg", "avif": ".avif"}
MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "webp": "image/webp",
    "jpeg": "image/jpeg",
    "avif": "image/avif",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "heif": "image/heif",
}
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


_OUTPUT_NAMES: dict[str, OutputFormat] = {
    "png": "png",
    "webp": "webp",
    "jpeg": "jpeg",
    "jpg": "jpeg",
    "avif": "avif",
}


def output_format(name: str) -> OutputFormat:
    try:
        return _OUTPUT_NAMES[name.lower()]
    except KeyError:
        raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}") from None
