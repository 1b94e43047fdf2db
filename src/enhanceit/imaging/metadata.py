"""The input's EXIF (and XMP) in the result, as the ``metadata`` option allows: what is kept, and why.

A photo's EXIF block says more than how it was taken. Besides the camera, the dates and the exposure, it
may hold the place (the GPS IFD), the camera's and the lens' serial numbers, the owner's name, a MakerNote
(a vendor's undocumented blob: serial numbers, sometimes a position, face regions) and a thumbnail of the
picture as it was before any edit. So the result's block is rebuilt from an allow-list: a tag is carried
only when it is named below, in the IFD the standard puts it in, with a type the standard gives it. A tag
nobody here has heard of is never carried, whatever it holds. The modes:

* ``keep`` (the default): IFD0's description, make, model, software, date, artist and copyright; the EXIF
  IFD's dates (with their sub-seconds and UTC offsets), exposure (time, aperture, ISO, program, bias,
  metering, flash, white balance, ...), focal length and lens make and model. Never the GPS IFD, the
  MakerNote, IFD1 (the thumbnail), serial numbers, the owner's name, the user comment, nor the XMP packet.
* ``all``: the same, and the GPS IFD; and the input's XMP packet as it is (it may hold a position too).
* ``none``: no EXIF, no XMP (the ICC profile is carried in every mode, see :mod:`enhanceit.imaging.encode`).

In every mode that carries EXIF the orientation is 1 (the pixels were turned upright when decoded, and a
stale tag would turn them again: libvips' AVIF saver even makes an ``irot`` box of it), the pixel
dimensions are the result's, and the colour space says sRGB when the result has no ICC profile.

The block is parsed and written here, in pure Python, over bytes that are bounded (:data:`MAX_EXIF_BYTES`);
values are copied as raw bytes in the input's byte order, never decoded. Damage costs as little as it
can, and never the job: a block whose IFD0 cannot be read is dropped whole (the log says so, and why, in
our own words, never with a value from the block); an EXIF or GPS IFD that cannot be read is left out; a
kept tag whose value lies outside the block, or overlaps any other value or IFD (it might be a position
or a serial number under an allowed tag's name), is dropped alone.

libvips writes the block (the ``exif-data`` field, saved with ``keep`` EXIF) after re-reading it with
libexif, which adds the tags it holds mandatory (EXIF and FlashPix versions, colour space, resolution) and
sets the dimensions again; it also adds or overwrites tags from any ``exif-ifd*`` field on the image it
saves, so the encoder strips those first (:func:`enhanceit.imaging.encode.with_metadata`).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

Mode = Literal["keep", "all", "none"]

#: An input EXIF block larger than this is dropped unread. Cameras write 10-40 KB, most of it MakerNote
#: and thumbnail; a JPEG cannot hold more than 64 KB in its APP1 segment anyway.
MAX_EXIF_BYTES = 64 << 10
#: The largest block given to libvips: what a JPEG APP1 segment holds (65533 bytes, and libvips' JPEG
#: saver drops a larger block without a word), less room for the few tags libexif adds when it writes it.
MAX_RESULT_EXIF_BYTES = 65_000
#: The largest XMP packet carried (``all``): what fits in a JPEG APP1 segment next to its 29-byte
#: namespace; libvips' JPEG saver drops a larger one without a word. The same bound for every format.
MAX_XMP_BYTES = 65_504

_EXIF_HEADER = b"Exif\x00\x00"
_ORDERS = {b"II*\x00": "<", b"MM\x00*": ">"}

# TIFF field types and the bytes one value takes.
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _SBYTE, _UNDEFINED, _SSHORT, _SLONG, _SRATIONAL, _FLOAT, _DOUBLE = range(1, 13)
_IFD_TYPE = 13
_TYPE_SIZES = {_BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8, _SBYTE: 1, _UNDEFINED: 1, _SSHORT: 2}
_TYPE_SIZES |= {_SLONG: 4, _SRATIONAL: 8, _FLOAT: 4, _DOUBLE: 8}


@dataclass(frozen=True)
class _Rule:
    """What a carried tag may be: one of these types, this many values (None: any number, for text)."""

    types: frozenset[int]
    count: int | None = 1


# Integers as SHORT or LONG and rationals signed or not: cameras disagree with the standard there, and the
# value is carried as it is either way.
_TEXT = _Rule(frozenset({_ASCII}), None)
_INT = _Rule(frozenset({_SHORT, _LONG}))
_RATIO = _Rule(frozenset({_RATIONAL, _SRATIONAL}))
_VERSION = _Rule(frozenset({_UNDEFINED}), 4)
_LENS = _Rule(_RATIO.types, 4)
_GPS = _Rule(frozenset(_TYPE_SIZES), None)
_OFFSET = _Rule(frozenset({_LONG}))

_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005
_POINTERS = (_EXIF_IFD, _GPS_IFD, _INTEROP_IFD)
_COLOR_SPACE = 0xA001
_PIXEL_X = 0xA002
_PIXEL_Y = 0xA003
_SRGB = 1
_UNCALIBRATED = 0xFFFF
_THUMBNAIL_AT = 0x0201
_THUMBNAIL_SIZE = 0x0202

#: IFD0 (the main image's): who made the picture with what, when, and what it shows.
IFD0_TAGS: dict[int, _Rule] = {
    0x010E: _TEXT,  # ImageDescription
    0x010F: _TEXT,  # Make
    0x0110: _TEXT,  # Model
    0x0131: _TEXT,  # Software
    0x0132: _TEXT,  # DateTime
    0x013B: _TEXT,  # Artist
    0x8298: _TEXT,  # Copyright
}
#: The EXIF IFD: dates and how the picture was taken. Not carried, among others: MakerNote (0x927C),
#: UserComment (0x9286), CameraOwnerName (0xA430), BodySerialNumber (0xA431), LensSerialNumber (0xA435),
#: ImageUniqueID (0xA420), the Interoperability IFD (0xA005), and positions in the input's pixels
#: (SubjectArea, SubjectLocation), which the result's pixels no longer match.
EXIF_TAGS: dict[int, _Rule] = {
    0x829A: _RATIO,  # ExposureTime
    0x829D: _RATIO,  # FNumber
    0x8822: _INT,  # ExposureProgram
    0x8827: _INT,  # PhotographicSensitivity (ISO)
    0x8830: _INT,  # SensitivityType
    0x8831: _INT,  # StandardOutputSensitivity
    0x8832: _INT,  # RecommendedExposureIndex
    0x8833: _INT,  # ISOSpeed
    0x9000: _VERSION,  # ExifVersion
    0x9003: _TEXT,  # DateTimeOriginal
    0x9004: _TEXT,  # DateTimeDigitized
    0x9010: _TEXT,  # OffsetTime
    0x9011: _TEXT,  # OffsetTimeOriginal
    0x9012: _TEXT,  # OffsetTimeDigitized
    0x9201: _RATIO,  # ShutterSpeedValue
    0x9202: _RATIO,  # ApertureValue
    0x9203: _RATIO,  # BrightnessValue
    0x9204: _RATIO,  # ExposureBiasValue
    0x9205: _RATIO,  # MaxApertureValue
    0x9206: _RATIO,  # SubjectDistance
    0x9207: _INT,  # MeteringMode
    0x9208: _INT,  # LightSource
    0x9209: _INT,  # Flash
    0x920A: _RATIO,  # FocalLength
    0x9290: _TEXT,  # SubSecTime
    0x9291: _TEXT,  # SubSecTimeOriginal
    0x9292: _TEXT,  # SubSecTimeDigitized
    0xA402: _INT,  # ExposureMode
    0xA403: _INT,  # WhiteBalance
    0xA404: _RATIO,  # DigitalZoomRatio
    0xA405: _INT,  # FocalLengthIn35mmFilm
    0xA406: _INT,  # SceneCaptureType
    0xA407: _INT,  # GainControl
    0xA408: _INT,  # Contrast
    0xA409: _INT,  # Saturation
    0xA40A: _INT,  # Sharpness
    0xA40C: _INT,  # SubjectDistanceRange
    0xA432: _LENS,  # LensSpecification
    0xA433: _TEXT,  # LensMake
    0xA434: _TEXT,  # LensModel
}
#: The GPS IFD (``all`` only): every tag the standard defines there, GPSVersionID (0) to
#: GPSHPositioningError (0x1F).
GPS_TAGS: dict[int, _Rule] = dict.fromkeys(range(0x20), _GPS)
#: IFD1 is never carried; where its thumbnail lies is read, so that no carried value may cover it.
_IFD1_TAGS = {_THUMBNAIL_AT: _OFFSET, _THUMBNAIL_SIZE: _OFFSET}


class _Malformed(ValueError):
    """The block's structure cannot be read; the message is ours and names no value from the block."""


@dataclass(frozen=True)
class _Entry:
    type: int
    count: int
    #: The value's bytes, in the block's byte order.
    value: bytes


@dataclass(frozen=True)
class _Found:
    """An allowed entry as its IFD gives it: where its value lies is not checked yet."""

    type: int
    count: int
    start: int
    size: int


@dataclass
class _Ifd:
    found: dict[int, _Found] = field(default_factory=dict)
    #: Where the IFDs it points to are (EXIF, GPS, Interoperability).
    pointers: dict[int, int] = field(default_factory=dict)
    next: int = 0


class _Block:
    """A TIFF structure (an EXIF block without its ``Exif\\0\\0`` header) read entry by entry, in bounds.

    It also notes the bytes every IFD it reads takes (its table, and each value stored outside its entry):
    in a sound block these never overlap, so a value that overlaps another is damaged or made up, and may
    be some other tag's bytes (a position, a serial number) under an allowed tag's name. It is dropped."""

    def __init__(self, tiff: bytes) -> None:
        order = _ORDERS.get(tiff[:4])
        if order is None or len(tiff) < 8:
            raise _Malformed("no TIFF header")
        self.tiff = tiff
        self.order = order
        self.spans: list[tuple[int, int]] = []

    def u32(self, at: int) -> int:
        return int(struct.unpack_from(self.order + "I", self.tiff, at)[0])

    def ifd(self, offset: int, rules: dict[int, _Rule]) -> _Ifd:
        """The IFD at ``offset``: the entries ``rules`` allow, the IFDs it points to, the next IFD."""
        if offset < 8 or offset + 2 > len(self.tiff):
            raise _Malformed("an IFD lies outside the block")
        (count,) = struct.unpack_from(self.order + "H", self.tiff, offset)
        end = offset + 2 + 12 * count
        if end + 4 > len(self.tiff):
            raise _Malformed("an IFD runs past the end of the block")
        self.spans.append((offset, end + 4))
        ifd = _Ifd(next=self.u32(end))
        for at in range(offset + 2, end, 12):
            tag, kind, n, value = struct.unpack_from(self.order + "HHII", self.tiff, at)
            if tag in _POINTERS and kind in (_LONG, _IFD_TYPE) and n == 1:
                ifd.pointers.setdefault(tag, value)
                continue
            size = _TYPE_SIZES.get(kind, 0) * n
            if size > 4:
                self.spans.append((value, value + size))
            rule = rules.get(tag)
            if rule is None or kind not in rule.types or n == 0 or rule.count not in (None, n) or tag in ifd.found:
                continue
            ifd.found[tag] = _Found(kind, n, at + 8 if size <= 4 else value, size)
        return ifd

    def optional_ifd(self, offset: int | None, rules: dict[int, _Rule]) -> _Ifd:
        """The IFD at ``offset``, or none when there is none or it cannot be read: IFD0's own tags are
        carried without a damaged EXIF or GPS IFD, and a bad pointer to a thumbnail costs nothing."""
        if not offset:
            return _Ifd()
        try:
            return self.ifd(offset, rules)
        except _Malformed:
            return _Ifd()

    def entries(self, found: dict[int, _Found]) -> dict[int, _Entry]:
        """The entries whose values lie in the block and overlap nothing else read; the others are dropped."""
        out = {}
        for tag, f in found.items():
            end = f.start + f.size
            if f.size > 4:
                overlaps = sum(1 for s, e in self.spans if s < end and f.start < e)
                if end > len(self.tiff) or overlaps > 1:  # one: its own
                    continue
            out[tag] = _Entry(f.type, f.count, self.tiff[f.start : end])
        return out


def result_exif(exif: bytes | None, mode: str, width: int, height: int, *, srgb: bool) -> bytes | None:
    """The EXIF block (``Exif\\0\\0`` and a TIFF structure) for a ``width`` x ``height`` result, from the
    input's ``exif`` as ``mode`` allows; None when there is nothing to carry: mode ``none``, no block, none
    of its tags allowed, or a block that is too big or cannot be read (then logged, without its content).
    ``srgb``: the result has no ICC profile, its pixels are sRGB."""
    if mode not in ("keep", "all") or not exif:
        return None
    try:
        if len(exif) > MAX_EXIF_BYTES:
            raise _Malformed(f"larger than {MAX_EXIF_BYTES // 1024} KiB")
        block = _rebuild(exif, mode == "all", width, height, srgb)
        if block is not None and len(block) > MAX_RESULT_EXIF_BYTES:
            raise _Malformed("too large for the result")
        return block
    except _Malformed as e:
        reason = str(e)
    except Exception:  # a block no rule above foresaw costs its metadata, never the job
        reason = "unreadable"
    logger.warning("the input's EXIF was not carried into the result: %s", reason)
    return None


def result_xmp(xmp: bytes | None, mode: str) -> bytes | None:
    """The input's XMP packet, as it is, for mode ``all``; None otherwise, or when it is too big to carry."""
    if mode != "all" or not xmp:
        return None
    if len(xmp) > MAX_XMP_BYTES:
        logger.warning("the input's XMP was not carried into the result: larger than %d bytes", MAX_XMP_BYTES)
        return None
    return xmp


def _rebuild(exif: bytes, with_gps: bool, width: int, height: int, srgb: bool) -> bytes | None:
    tiff = exif.removeprefix(_EXIF_HEADER)
    block = _Block(tiff)
    main = block.ifd(block.u32(4), IFD0_TAGS)
    sub = block.optional_ifd(main.pointers.get(_EXIF_IFD), EXIF_TAGS)
    gps = block.optional_ifd(main.pointers.get(_GPS_IFD), GPS_TAGS)  # read for its spans in every mode
    block.optional_ifd(sub.pointers.get(_INTEROP_IFD), {})
    thumbnail = block.optional_ifd(main.next, _IFD1_TAGS).found
    if _THUMBNAIL_AT in thumbnail and _THUMBNAIL_SIZE in thumbnail:
        at = block.u32(thumbnail[_THUMBNAIL_AT].start)
        block.spans.append((at, at + block.u32(thumbnail[_THUMBNAIL_SIZE].start)))
    ifd0, exif_ifd = block.entries(main.found), block.entries(sub.found)
    gps_ifd = block.entries(gps.found) if with_gps else {}
    if not (ifd0 or exif_ifd or gps_ifd):
        return None  # nothing worth carrying: no block, rather than one that only repeats the result's size
    pack = _Packer(block.order)
    ifd0[_ORIENTATION] = pack.short(1)
    exif_ifd[_COLOR_SPACE] = pack.short(_SRGB if srgb else _UNCALIBRATED)
    exif_ifd[_PIXEL_X] = pack.long(width)
    exif_ifd[_PIXEL_Y] = pack.long(height)
    # Layout: header, IFD0 (next IFD: none, so no thumbnail), the EXIF IFD, the GPS IFD; each IFD followed
    # by the values that do not fit in its entries. The pointers are entries of fixed size, so the sizes
    # are known before the offsets are.
    ifd0[_EXIF_IFD] = pack.long(0)
    if gps_ifd:
        ifd0[_GPS_IFD] = pack.long(0)
    exif_at = 8 + _ifd_size(ifd0)
    gps_at = exif_at + _ifd_size(exif_ifd)
    ifd0[_EXIF_IFD] = pack.long(exif_at)
    if gps_ifd:
        ifd0[_GPS_IFD] = pack.long(gps_at)
    out = tiff[:4] + struct.pack(block.order + "I", 8)
    out += pack.ifd(ifd0, 8) + pack.ifd(exif_ifd, exif_at)
    if gps_ifd:
        out += pack.ifd(gps_ifd, gps_at)
    return _EXIF_HEADER + out


def _ifd_size(entries: dict[int, _Entry]) -> int:
    return 2 + 12 * len(entries) + 4 + sum(_padded(len(e.value)) for e in entries.values() if len(e.value) > 4)


def _padded(size: int) -> int:
    return size + (size & 1)  # values start on a word boundary


class _Packer:
    def __init__(self, order: str) -> None:
        self.order = order

    def short(self, value: int) -> _Entry:
        return _Entry(_SHORT, 1, struct.pack(self.order + "H", value))

    def long(self, value: int) -> _Entry:
        return _Entry(_LONG, 1, struct.pack(self.order + "I", value))

    def ifd(self, entries: dict[int, _Entry], offset: int) -> bytes:
        """The IFD at ``offset``: its entries in tag order (as TIFF requires), no next IFD, then the values
        too long for an entry."""
        values_at = offset + 2 + 12 * len(entries) + 4
        table = struct.pack(self.order + "H", len(entries))
        values = b""
        for tag in sorted(entries):
            entry = entries[tag]
            if len(entry.value) <= 4:
                slot = entry.value.ljust(4, b"\x00")
            else:
                slot = struct.pack(self.order + "I", values_at + len(values))
                values += entry.value.ljust(_padded(len(entry.value)), b"\x00")
            table += struct.pack(self.order + "HHI", tag, entry.type, entry.count) + slot
        return table + struct.pack(self.order + "I", 0) + values
