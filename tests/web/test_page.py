"""The web page, end to end: a real photo through the real service in a real browser."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
from playwright.sync_api import Page

from enhanceit.engine.fake import fake_engine
from enhanceit.web import static_dir
from tests.api.conftest import decode, make_settings, png_bytes
from tests.api.servers import HttpStub, send
from tests.helpers import load, photo, save
from tests.web.conftest import CSP, PHONE, Pages, enhance, serve, wait_for_result


def natural_size(page: Page, selector: str) -> tuple[int, int]:
    w, h = page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]")
    return int(w), int(h)


def box(page: Page, selector: str) -> tuple[float, float, float, float]:
    b = page.locator(selector).bounding_box()
    assert b is not None, f"{selector} is not displayed"
    return b["x"], b["y"], b["width"], b["height"]


def test_the_page_is_small_and_self_contained() -> None:
    files = [p for p in static_dir().rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "app.css", "app.js"}
    assert sum(p.stat().st_size for p in files) < 33_000  # 30 KB until aliases and warnings came, 32 until "Copy link"
    for p in files:  # nothing loaded from elsewhere (the browser fence checks it at run time too)
        assert not re.search(r"""(src|href)=["']?(https?:)?//|url\(|@import|\bimport\b.*\bfrom\b""", p.read_text()), (
            p.name
        )


def test_upload_a_photo_see_it_enhanced_and_download_it(
    site: str, pages: Pages, astronaut: Path, tmp_path: Path
) -> None:
    page = pages.open(site, csp=CSP)  # no inline script or style: works under a strict policy
    assert page.title().startswith("EnhanceIt")
    assert page.input_value("#model") == "photo"  # the everyday case first
    assert "Here: 2x: waifu2x-upconv7-photo, 3x: waifu2x-upconv7-photo, 4x: waifu2x-upconv7-photo." in page.inner_text(
        "#summary"
    )
    enhance(page, astronaut)

    assert natural_size(page, "#after") == (128, 128)
    assert natural_size(page, "#before") == (64, 64)
    # the "before" image is drawn at the result's size, so both line up pixel for pixel
    assert box(page, "#before") == box(page, "#after")
    assert box(page, "#after")[2] >= 128
    assert page.eval_on_selector("#stage", "s => s.classList.contains('px')")  # zoomed in: pixelated
    assert page.eval_on_selector("#after", "i => getComputedStyle(i).imageRendering") == "pixelated"

    assert page.eval_on_selector("#bar", "b => b.value") == 1
    assert page.inner_text("#status").startswith("Done: 128×128")
    timings = page.inner_text("#timings")
    for phase in ("Decode", "Inference", "Encode", "Store", "Total"):
        assert phase in timings
    assert page.is_hidden("#cancel")
    assert "expires in" in page.inner_text("#expires")

    link = page.locator("#download")
    assert link.get_attribute("download") == "astronaut-waifu2x-upconv7-photo.png"  # the model that ran
    assert page.is_hidden("#warnings")
    with page.expect_download() as download:
        link.click()
    saved = download.value.path()
    expected = photo("astronaut", 64).repeat(2, axis=0).repeat(2, axis=1)  # nearest-neighbour fake engine
    np.testing.assert_array_equal(load(saved), expected)
    fetched = page.request.get(site.rstrip("/") + "/" + str(link.get_attribute("href")).lstrip("/"))
    assert fetched.ok and fetched.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(decode(fetched.body()), expected)
    page.screenshot(path=tmp_path / "desktop.png", full_page=True)


def test_photo_and_art_come_first_and_restricted_models_are_marked(site: str, pages: Pages) -> None:
    page = pages.open(site)
    groups = page.eval_on_selector_all("#model optgroup", "gs => gs.map(g => g.label)")
    assert groups == ["Recommended", "Every model"]
    first = page.eval_on_selector_all("#model option", "os => os.slice(0, 3).map(o => o.value)")
    assert first == ["photo", "art", "waifu2x-cunet"]
    off = page.locator("#model option[value='clearreality']")
    assert off.is_disabled() and "(off: licence)" in off.inner_text()
    page.select_option("#model", "art")
    assert page.locator("input[name=noise]").count() == 6  # auto, and every level: some model behind it has it


def test_a_cut_short_photo_is_shown_with_a_warning(site: str, pages: Pages, tmp_path: Path) -> None:
    path = save(photo("astronaut", 64), tmp_path / "cut.jpg")
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    page = pages.open(site)
    enhance(page, path)
    assert page.is_visible("#warnings")
    assert page.inner_text("#warnings") == "The image data ended early; missing rows were filled."


def test_options_reach_the_server(site: str, pages: Pages, astronaut: Path) -> None:
    page = pages.open(site)
    page.select_option("#model", "realesrgan-x4plus")
    # Real-ESRGAN has no noise reduction: only "Auto" (which is none for it) and "None" are offered
    assert page.locator("input[name=noise]").count() == 2
    page.select_option("#model", "waifu2x-upconv7-photo")
    assert page.locator("input[name=noise]").count() == 6
    assert page.is_hidden("#quality")

    def settings(p: Page) -> None:
        p.check("input[name=noise][value='2']")
        p.fill("#width", "100")  # picks the "Width" choice
        p.select_option("#format", "jpeg")
        p.fill("#quality", "80")

    with page.expect_request("**/v1/enhance") as sent:
        enhance(page, astronaut, before=settings)
    assert sent.value.headers["prefer"] == "respond-async"
    form = str(sent.value.post_data)
    fields = {"model": "waifu2x-upconv7-photo", "noise": 2, "width": 100, "format": "jpeg", "quality": 80, "tta": 0}
    for name, value in fields.items():
        assert f'name="{name}"\r\n\r\n{value}\r\n' in form
    assert 'name="scale"' not in form
    assert natural_size(page, "#after") == (100, 100)
    assert page.get_attribute("#download", "download") == "astronaut-waifu2x-upconv7-photo.jpg"
    assert "JPEG · 100×100" in page.inner_text("#download")


def test_noise_is_auto_by_default_and_the_result_says_what_it_chose(site: str, pages: Pages, tmp_path: Path) -> None:
    """A JPEG saved at quality 75 gets UpConv7-photo's strongest level (3, "Highest") from `photo` at 2x; a
    PNG gets none. The page sends `auto` and shows what ran."""
    jpeg = save(photo("astronaut", 64), tmp_path / "photo.jpg", Q=75)
    page = pages.open(site)
    assert page.is_checked("input[name=noise][value='auto']")
    with page.expect_request("**/v1/enhance") as sent:
        enhance(page, jpeg)
    assert 'name="noise"\r\n\r\nauto\r\n' in str(sent.value.post_data)
    assert page.inner_text("#status").endswith("waifu2x-upconv7-photo, noise reduction Highest (auto).")

    page.check("input[name=noise][value='1']")  # a level asked for is shown without "(auto)"
    enhance(page, save(photo("astronaut", 64), tmp_path / "photo.png"))
    assert page.inner_text("#status").endswith("waifu2x-upconv7-photo, noise reduction Medium.")


def submit_for_error(page: Page) -> str:
    """Press Enhance, wait for the error it ends with, and check it is words, not the problem's JSON."""
    page.click("#go")
    page.wait_for_selector("#error", state="visible")
    page.wait_for_function("() => !document.getElementById('go').ariaDisabled")
    text = page.inner_text("#error")
    for raw in ("{", "}", '"', "request_id", "problem", "https://enhanceit.dev"):
        assert raw not in text
    assert page.get_attribute("#error", "role") == "alert"
    return text


def test_errors_are_explained_in_plain_words(site: str, pages: Pages, tmp_path: Path) -> None:
    page = pages.open(site)
    for url, words in (
        ("http://127.0.0.1:1/x.png", "127.0.0.1 is a loopback address"),
        ("file:///etc/passwd", "Only http and https URLs are allowed"),
    ):
        page.fill("#url", url)
        text = submit_for_error(page)
        assert "The server is not allowed to fetch an image from that address." in text
        assert words in text
        assert page.inner_text("#status") == "Failed."
    page.screenshot(path=tmp_path / "error.png")

    # not an image (415, at once)
    (tmp_path / "notes.png").write_text("not a picture")
    page.set_input_files("#file", str(tmp_path / "notes.png"))
    assert "That is not an image this server can read" in submit_for_error(page)

    # a corrupt image (its header fine): accepted, then the job fails (422, from polling)
    corrupt = bytearray(png_bytes(photo("astronaut", 64)))
    start = corrupt.index(b"IDAT") + 60
    corrupt[start : start + 200] = bytes(b ^ 0x5A for b in corrupt[start : start + 200])
    (tmp_path / "corrupt.png").write_bytes(bytes(corrupt))
    page.set_input_files("#file", str(tmp_path / "corrupt.png"))
    assert "The image could not be processed." in submit_for_error(page)

    # nothing chosen: said, not sent
    page.fill("#url", "")
    page.set_input_files("#file", [])
    assert "Choose, drop or paste an image" in submit_for_error(page)

    # the server unreachable
    page.route("**/v1/enhance", lambda route: route.abort())
    page.fill("#url", "http://127.0.0.1:1/x.png")
    assert "Could not reach the server" in submit_for_error(page)


def test_phone_width_layout(site: str, pages: Pages, astronaut: Path, tmp_path: Path) -> None:
    page = pages.open(site, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, color_scheme="dark")

    def fits() -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width} px wide"
        for selector in ("label[for=file]", "#url", "#model", "input[name=size][value='3']", "#format", "#go"):
            x, _, w, _ = box(page, selector)
            assert x >= 0 and x + w <= PHONE["width"], selector
            assert page.is_visible(selector), selector

    fits()
    page.screenshot(path=tmp_path / "phone-form.png", full_page=True)
    enhance(page, astronaut)
    fits()
    x, _, w, _ = box(page, "#cmp")
    assert x >= 0 and x + w <= PHONE["width"]
    page.screenshot(path=tmp_path / "phone.png", full_page=True)


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until ``selector`` has the focus: it is reachable by keyboard, in the page's order."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_the_file_control_opens_with_space(site: str, pages: Pages, astronaut: Path) -> None:
    """Space on the focused file control activates it: the browser clicks it, which opens the file chooser.
    The page records that click and keeps the chooser shut (preventDefault): waiting for Chromium's own
    chooser after a synthetic key press is a race (puppeteer#6040), and what a chooser returns is the
    browser's work, not the page's. The file then comes in as a chooser would give it."""
    page = pages.open(site)
    page.evaluate(
        """() => { window.activations = [];
        document.getElementById('file').addEventListener('click', (e) => {
            window.activations.push(document.activeElement.id);
            e.preventDefault();
        }); }"""
    )
    label = "label[for=file]"  # the control is visually hidden: its label shows it, and shows its focus
    assert page.eval_on_selector(label, "l => getComputedStyle(l).outlineStyle") == "none"
    tab_to(page, "#file")
    assert page.eval_on_selector(label, "l => getComputedStyle(l).outlineStyle") == "solid"  # visible focus
    assert page.evaluate("window.activations") == []
    page.keyboard.press("Space")
    page.wait_for_function("() => window.activations.length > 0", timeout=10_000)
    assert page.evaluate("window.activations") == ["file"]  # once, on the focused control

    page.locator("#file").set_input_files(str(astronaut))
    page.wait_for_function("() => document.getElementById('pickedText').textContent.includes('64×64')")
    assert page.inner_text("#pickedText").startswith("astronaut.png")
    assert page.is_visible("#picked")


def test_enhance_by_keyboard(site: str, pages: Pages, astronaut: Path) -> None:
    page = pages.open(site)
    page.set_input_files("#file", str(astronaut))
    tab_to(page, "#go")
    page.keyboard.press("Enter")
    wait_for_result(page)
    assert natural_size(page, "#after") == (128, 128)
    assert page.evaluate("document.activeElement.id") == "go"  # kept through the job (aria-disabled, not disabled)


def test_the_comparison_slider_by_keyboard(site: str, pages: Pages, astronaut: Path) -> None:
    page = pages.open(site)
    enhance(page, astronaut)
    tab_to(page, "#knob")
    knob = page.locator("#knob")
    assert knob.get_attribute("role") == "slider"
    assert knob.get_attribute("aria-valuenow") == "50"
    assert knob.get_attribute("aria-valuetext") == "50% before, 50% after"
    assert page.evaluate("getComputedStyle(document.activeElement, '::after').outlineStyle") == "solid"  # visible focus

    def clip_left() -> float:
        return float(page.eval_on_selector("#after", "a => parseFloat(a.style.clipPath.match(/([\\d.]+)px\\)$/)[1])"))

    def press(key: str, value: str) -> None:
        page.keyboard.press(key)
        assert knob.get_attribute("aria-valuenow") == value, key

    middle = clip_left()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert knob.get_attribute("aria-valuenow") == "55"
    assert clip_left() > middle
    press("ArrowDown", "54")
    press("ArrowUp", "55")
    press("ArrowLeft", "54")
    press("PageUp", "64")
    press("PageDown", "54")
    press("Home", "0")
    assert clip_left() == 0  # all "after"
    press("End", "100")
    assert clip_left() == box(page, "#after")[2]  # all "before"
    press("Shift+ArrowLeft", "90")
    assert knob.get_attribute("aria-valuetext") == "90% before, 10% after"


def test_zoom_keys(site: str, pages: Pages, astronaut: Path, tmp_path: Path) -> None:
    page = pages.open(site)
    enhance(page, astronaut)
    tab_to(page, "#view")  # the comparison: "+ and − zoom, 0 fits"
    fit = page.inner_text("#zoomText")
    width = box(page, "#stage")[2]
    page.keyboard.press("+")
    assert page.inner_text("#zoomText") != fit
    assert box(page, "#stage")[2] > width
    page.keyboard.press("-")
    page.keyboard.press("-")
    assert box(page, "#stage")[2] < width
    page.keyboard.press("0")
    assert page.inner_text("#zoomText") == fit
    assert box(page, "#stage")[2] == width
    page.keyboard.press("1")
    assert page.inner_text("#zoomText") == "100%"
    assert box(page, "#stage")[2] == 128  # the result's own pixels
    page.keyboard.press("=")  # "+" without Shift
    assert page.inner_text("#zoomText") == "200%"
    tab_to(page, "#knob")  # the divider takes the zoom keys too
    page.keyboard.press("-")
    assert page.inner_text("#zoomText") == "100%"
    page.screenshot(path=tmp_path / "keyboard.png")


def test_wheel_and_drag_on_the_comparison(site: str, pages: Pages, astronaut: Path) -> None:
    page = pages.open(site)
    enhance(page, astronaut)
    width = box(page, "#stage")[2]
    x, y, w, h = box(page, "#view")
    page.mouse.move(x + w / 2, y + h / 2)
    page.mouse.wheel(0, -120)
    page.wait_for_function(f"() => document.getElementById('stage').getBoundingClientRect().width > {width}")
    kx, ky, kw, kh = box(page, "#knob")
    page.mouse.move(kx + kw / 2, ky + kh / 2)
    page.mouse.down()
    page.mouse.move(x + 10, ky + kh / 2, steps=4)
    page.mouse.up()
    assert int(page.get_attribute("#knob", "aria-valuenow") or 50) < 10


def test_recent_results_survive_a_reload(site: str, pages: Pages, astronaut: Path, tmp_path: Path) -> None:
    page = pages.open(site)
    assert page.locator("#recentList li").count() == 0
    enhance(page, astronaut)
    page.reload()
    item = page.locator("#recentList li")
    assert item.count() == 1
    text = item.inner_text()
    assert "astronaut" in text and "waifu2x-upconv7-photo" in text and "128×128 PNG" in text and "expires in" in text
    thumb = str(item.locator("img").get_attribute("src"))
    assert thumb.startswith("data:image/")
    href = str(item.locator("a").get_attribute("href"))
    assert page.request.get(site + href).ok

    # an old entry whose link has expired says so and offers no link
    page.evaluate(
        """() => { const list = JSON.parse(localStorage.getItem('enhanceit.recent'));
        list.push({...list[0], id: 'job_old', name: 'old', expires_at: '2001-01-01T00:00:00Z', thumb: ''});
        localStorage.setItem('enhanceit.recent', JSON.stringify(list)); }"""
    )
    page.reload()
    old = page.locator("#recentList li").nth(1)
    assert "Link expired." in old.inner_text()
    assert old.locator("a").count() == 0
    page.screenshot(path=tmp_path / "recent.png", full_page=True)

    page.click("#recentClear")
    assert page.locator("#recentList li").count() == 0
    page.reload()
    assert page.locator("#recentList li").count() == 0
    assert page.is_visible("#recentNone")


def test_cancel_a_running_job(tmp_path: Path, pages: Pages) -> None:
    server, _ = serve(make_settings(tmp_path), fake_engine(delay=0.3))
    image = tmp_path / "big.png"
    save(photo("astronaut", 256), image)
    with server:
        page = pages.open(server.url)
        page.set_input_files("#file", str(image))
        page.click("#go")
        page.wait_for_selector("#cancel", state="visible")
        page.wait_for_function("() => document.getElementById('bar').value > 0")  # bound to the job's progress
        assert page.inner_text("#status").startswith("Enhancing… ")
        page.click("#cancel")
        page.wait_for_function("() => document.getElementById('status').textContent === 'Canceled.'")
        assert page.is_hidden("#cancel")
        assert page.is_hidden("#result")
        assert page.get_attribute("#go", "aria-disabled") is None
        assert page.evaluate("document.activeElement.id") == "go"  # the focus is not lost with Cancel


def test_api_key_asked_for_and_sent(tmp_path: Path, pages: Pages, astronaut: Path) -> None:
    server, _ = serve(make_settings(tmp_path, api_keys=["s3cret-key"]))
    with server:
        page = pages.open(server.url, models=False)  # the model list is behind the key too: asked for at once
        page.wait_for_selector("#keyBox", state="visible")
        assert "needs a valid API key" in page.inner_text("#error")
        assert page.evaluate("document.activeElement.id") == "key"
        assert page.eval_on_selector("#model", "s => s.options.length") == 0
        page.screenshot(path=tmp_path / "key.png")
        page.set_input_files("#file", str(astronaut))
        page.fill("#key", "s3cret-key")
        page.keyboard.press("Enter")  # saves the key, loads the models, submits
        wait_for_result(page)
        assert natural_size(page, "#after") == (128, 128)
        page.reload()
        assert page.is_visible("#keyBox")  # a saved key can be forgotten
        assert page.evaluate("localStorage.getItem('enhanceit.key')") == '"s3cret-key"'


def test_an_image_url(tmp_path: Path, pages: Pages) -> None:
    images = HttpStub(routes={"/pics/moon.png": send(200, png_bytes(photo("astronaut", 64)), "image/png")}).start()
    server, _ = serve(make_settings(tmp_path))  # private addresses allowed: the image host is on 127.0.0.1
    try:
        with server:
            page = pages.open(server.url)
            page.fill("#url", images.url("/pics/moon.png"))
            page.click("#go")
            wait_for_result(page)
            assert natural_size(page, "#after") == (128, 128)
            assert natural_size(page, "#before") == (64, 64)  # shown from its own address
            assert page.get_attribute("#download", "download") == "moon-waifu2x-upconv7-photo.png"
    finally:
        images.stop()


# A DataTransfer holding the PNG (base64) as a File, then the event carrying it, as a browser makes them.
_FILE = """(data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
    return dt;
}"""
PASTE = f"(data) => document.dispatchEvent(new ClipboardEvent('paste', {{clipboardData: ({_FILE})(data)}}))"
DROP = f"(data) => document.body.dispatchEvent(new DragEvent('drop', {{bubbles: true, dataTransfer: ({_FILE})(data)}}))"


def test_paste_and_drop_an_image(site: str, pages: Pages, astronaut: Path) -> None:
    page = pages.open(site)
    data = base64.b64encode(astronaut.read_bytes()).decode()
    page.evaluate(PASTE, data)
    assert page.inner_text("#pickedText").startswith("pasted-image.png")
    page.click("#go")
    wait_for_result(page)
    assert page.get_attribute("#download", "download") == "pasted-image-waifu2x-upconv7-photo.png"

    page.evaluate(DROP, data)
    page.wait_for_function("() => document.getElementById('pickedText').textContent.includes('64×64')")
    assert page.inner_text("#pickedText").startswith("dropped.png")
    page.click("#go")
    page.wait_for_function("() => document.getElementById('download').download === 'dropped-waifu2x-upconv7-photo.png'")
    wait_for_result(page)
    assert natural_size(page, "#after") == (128, 128)
