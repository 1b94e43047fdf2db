"""The formats the API and the page offer come from the formats table."""

from __future__ import annotations

import re

import httpx

from enhanceit.imaging.formats import FORMATS, OUTPUT_FORMATS


def test_v1_formats_lists_every_row_with_what_it_can_hold(client: httpx.Client) -> None:
    r = client.get("/v1/formats")
    assert r.status_code == 200
    rows = {f["name"]: f for f in r.json()}
    assert list(rows) == list(FORMATS)
    assert [n for n, f in rows.items() if f["written"]] == list(OUTPUT_FORMATS)
    assert rows["jpeg"]["alpha"] is False and rows["png"]["alpha"] is True
    assert rows["bmp"]["written"] is False and rows["bmp"]["read"] is True
    assert rows["gif"]["animation"] is True and rows["jpeg"]["animation"] is False
    assert rows["jpeg"]["extension"] == "jpg"


def test_the_page_offers_every_output_format_of_the_table(client: httpx.Client) -> None:
    page = client.get("/").text
    assert "output-formats" not in page
    options = re.findall(r'<option value="(\w+)"([^>]*)>([^<]*)</option>', page)
    offered = {value: (attrs, label) for value, attrs, label in options if value in FORMATS}
    assert list(offered) == list(OUTPUT_FORMATS)
    assert 'data-ext="jpg"' in offered["jpeg"][0]
    assert [v for v, (attrs, _) in offered.items() if "data-quality" in attrs] == ["webp", "jpeg", "avif"]
    assert offered["png"][1] == "PNG (lossless)"
    assert offered["gif"][1] == "GIF (animations too)"
