"""HEIF/AVIF boxes: what the decoder will hold is seen before it runs (a grid before its crop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from enhanceit.config import LimitSettings
from enhanceit.errors import ImageTooLarge
from enhanceit.imaging import isobmff
from enhanceit.imaging.probe import ImageInfo, probe
from enhanceit.pipeline.limits import check_input
from tests.heif_grids import box, full, ispe
from tests.helpers import photo


def grid_file(path: Path, tiles: list[int], grid: tuple[int, int], tile: tuple[int, int]) -> Path:
    """A HEIF skeleton: item 1 a grid of ``tiles`` (item ids), each tile item with the tile's extent."""
    dimg = box(
        b"dimg", (1).to_bytes(2, "big") + len(tiles).to_bytes(2, "big") + b"".join(t.to_bytes(2, "big") for t in tiles)
    )
    ipco = box(b"ipco", ispe(*grid) + ispe(*tile))
    items = sorted(set(tiles))
    entries = b"\0\x01\x01\x01" + b"".join(t.to_bytes(2, "big") + b"\x01\x02" for t in items)
    ipma = full(b"ipma", (1 + len(items)).to_bytes(4, "big") + entries)
    meta = full(b"meta", box(b"hdlr", b"\0" * 24) + full(b"iref", dimg) + box(b"iprp", ipco + ipma))
    path.write_bytes(box(b"ftyp", b"heic\0\0\0\0mif1heic") + meta + box(b"mdat", b"\0" * 16))
    return path


def test_a_grid_of_one_tile_named_225_times_counts_every_use(tmp_path: Path) -> None:
    """The 12 KB bomb: 225 uses of one 2048² tile; its own extent says 64x64 (what a clap crop shows)."""
    path = grid_file(tmp_path / "bomb.heic", [2] * 225, (64, 64), (2048, 2048))
    assert isobmff.decoded_pixels(path) == 225 * 2048 * 2048


def test_an_iphone_grid_is_its_canvas(tmp_path: Path) -> None:
    """48 distinct tiles of 512² for a 4032x3024 photo: about its own size, far under the limit."""
    path = grid_file(tmp_path / "photo.heic", list(range(2, 50)), (4032, 3024), (512, 512))
    assert isobmff.decoded_pixels(path) == 48 * 512 * 512


def test_the_limit_sees_the_decoder_pixels() -> None:
    info = ImageInfo("heif", 64, 64, 3, "uchar", "srgb", 1, False, False, decoder_pixels=225 * 2048 * 2048)
    with pytest.raises(ImageTooLarge, match="before its crop"):
        check_input(info, LimitSettings())
    check_input(ImageInfo("heif", 64, 64, 3, "uchar", "srgb", 1, False, False, decoder_pixels=64 * 64), LimitSettings())


def test_a_real_heic_and_avif_count_their_own_size(tmp_path: Path) -> None:
    import pillow_heif
    from PIL import Image

    pixels = photo("astronaut", 96)
    heic = tmp_path / "photo.heic"
    pillow_heif.from_pillow(Image.fromarray(pixels)).save(heic, quality=80)
    avif = tmp_path / "photo.avif"
    from tests.helpers import to_vips

    to_vips(pixels).heifsave(str(avif), compression="av1", Q=60, effort=0)
    for path in (heic, avif):
        info = probe(path)
        assert info.decoder_pixels == 96 * 96 and info.pixels == 96 * 96, path.name
