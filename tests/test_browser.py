"""The app in a real headless Chromium against `streamlit run` (no outbound requests)."""
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def fashion_store(tmp_path_factory) -> Path:
    """All 70,000 Fashion-MNIST images under the demo's small CNN, with no stored top-k
    lists (as the demo stores them): every click searches. The store the cold-start test
    built (it runs first: the reduced demo, trained weights) when it ran; else the random-
    weight network's features, made here."""
    from conftest import BUILT_BY_TESTS, require_fashion_mnist

    require_fashion_mnist()
    if "fashion70k" in BUILT_BY_TESTS:
        return BUILT_BY_TESTS["fashion70k"]
    path = tmp_path_factory.mktemp("fashion70k") / "vizkit.duckdb"
    subprocess.run([sys.executable, "-m", "vizkit.cli", "--store", str(path), "precompute",
                    "--dataset", "fashion-mnist", "--model", "vizkit_small_cnn", "--weights",
                    "random", "--layers", "embedding", "--metrics", "", "--quiet"],
                   check=True, capture_output=True)
    return path


@pytest.fixture
def app_store(request):
    """The store the app serves: ``digits_store``, or (parametrised) the store with a
    trained run's layouts ("evolved"), the 70,000 Fashion-MNIST images ("fashion"), the
    digits' atlas ("atlas") or the trained run's atlases ("evolved_atlas")."""
    name = getattr(request, "param", "digits")
    return request.getfixturevalue({"evolved": "evolved_store", "fashion": "fashion_store",
                                    "atlas": "atlas_store",
                                    "evolved_atlas": "evolved_atlas_store"}
                                   .get(name, "digits_store"))


@pytest.fixture
def app_url(app_store, tmp_path):
    port = _free_port()
    log = open(tmp_path / "streamlit.log", "w")
    env = dict(os.environ, VIZKIT_STORE=str(app_store))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
         "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _settle(page):
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
                           '[data-test-script-state="notRunning"]', timeout=60_000)
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=60_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


@pytest.fixture
def browser_page(app_url):
    """A headless Chromium page that may only talk to the app; yields (page, blocked)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    blocked = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def route(r):
            if r.request.url.startswith(app_url) or r.request.url.startswith(
                    app_url.replace("http", "ws")):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        yield page, blocked
        browser.close()
    assert blocked == []


def _grid_loaded(page, count: int) -> None:
    """The search grid shows ``count`` results and every thumbnail has loaded (the grid is
    a component in a shadow root, which locators pierce)."""
    from playwright.sync_api import expect

    images = page.locator(".vk-cell img")
    expect(images).to_have_count(count, timeout=60_000)
    deadline = time.time() + 60
    while not images.evaluate_all("els => els.every(e => e.complete && e.naturalWidth > 0)"):
        assert time.time() < deadline, "thumbnails did not load"
        page.wait_for_timeout(100)


def _images_loaded(page, at_least: int) -> None:
    page.wait_for_function(
        "n => { const i = [...document.querySelectorAll('[data-testid=stImage] img')];"
        " return i.length >= n && i.every(x => x.complete && x.naturalWidth > 0); }",
        arg=at_least, timeout=60_000)


def _screenshot(page, suffix: str) -> None:
    """A full-page screenshot at $VIZKIT_SCREENSHOT (name plus ``suffix``) when it is set."""
    if os.environ.get("VIZKIT_SCREENSHOT"):
        page.screenshot(path=os.environ["VIZKIT_SCREENSHOT"].replace(".png", suffix + ".png"),
                        full_page=True)


def _png(mode: str, size: tuple[int, int], colour) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_search_click_and_upload_in_a_real_browser(app_url, browser_page):
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/search")
    _settle(page)
    expect(page.get_by_text("Semantic search").first).to_be_visible()
    buttons = page.get_by_role("button", name="Search this")
    expect(buttons).to_have_count(50, timeout=60_000)
    _grid_loaded(page, 50)
    _images_loaded(page, 1)  # the query
    target = buttons.nth(2).get_attribute("data-idx")
    buttons.nth(2).click()
    _settle(page)
    # the click reruns the fragment; wait for the new query rather than read it at once
    expect(page.get_by_label("Image number")).to_have_value(target, timeout=60_000)
    expect(page.locator(".vk-root")).to_have_attribute("data-query", target)
    expect(page.get_by_role("button", name="Search this")).to_have_count(50)
    if os.environ.get("VIZKIT_SCREENSHOT"):
        page.screenshot(path=os.environ["VIZKIT_SCREENSHOT"])
    page.get_by_text("Upload an image").click()
    _settle(page)
    upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    upload.set_input_files({"name": "notes.png", "mimeType": "image/png",
                            "buffer": b"this is not an image"})
    _settle(page)
    expect(page.get_by_text("not a readable image")).to_be_visible()
    upload.set_input_files({"name": "digit.png", "mimeType": "image/png",
                            "buffer": _png("L", (8, 8), 180)})
    _settle(page)
    expect(page.get_by_role("button", name="Search this")).to_have_count(50)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.goto(app_url + "/")
    _settle(page)
    expect(page.get_by_text("Plugins")).to_be_visible()


def test_similarity_maps_and_compare_pages_in_a_real_browser(app_url, browser_page):
    """Maps of a dataset query, then of an uploaded one; the compare page's four panels."""
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/similarity")
    _settle(page)
    expect(page.get_by_text("Σ map")).to_have_count(20, timeout=60_000)
    _images_loaded(page, 1 + 40 + 1)  # query, 20 pairs of maps, legend
    page.get_by_text("Relative to an even share").click()
    _settle(page)
    expect(page.get_by_text("more of the similarity than their area")).to_be_visible()
    page.get_by_text("Upload an image").click()
    _settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        {"name": "wide.png", "mimeType": "image/png",
         "buffer": _png("RGB", (48, 16), (90, 200, 30))})
    _settle(page)
    expect(page.get_by_text("Σ map")).to_have_count(20, timeout=60_000)
    _images_loaded(page, 41)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.goto(app_url + "/compare")
    _settle(page)
    # one result at a time first, large, with its scores under A and B
    expect(page.get_by_role("heading", name="One result at a time")).to_be_visible()
    expect(page.get_by_text("rank under B")).to_be_visible()
    page.get_by_role("button", name="next →").click()
    _settle(page)
    expect(page.locator(".st-key-cmp_focus_at").get_by_role("combobox")).to_have_value(
        re.compile(r"^#2 · "), timeout=60_000)
    page.get_by_text("All 20 results in the four panels").click()  # the overview
    _settle(page)
    for n in "1234":
        expect(page.get_by_role("heading", name=f"{n} · Ranked by")).to_be_visible()
    expect(page.get_by_text("Overlap@20")).to_be_visible()
    expect(page.get_by_text("Σ map")).to_have_count(80)
    _images_loaded(page, 1 + 160 + 4)
    _screenshot(page, "-compare")
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)



def test_grid_cell_and_gallery_clicks_in_a_real_browser(app_url, browser_page):
    """Click a Models x layers cell: semantic search opens in that configuration. Browse
    the gallery there and use one image: it becomes the query."""
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/grid")
    _settle(page)
    expect(page.get_by_text("Best: ")).to_be_visible(timeout=60_000)
    cells = page.locator(".st-key-grid_heatmap .scatterlayer .point")
    expect(cells).to_have_count(4)  # 2 models x 2 layers of the digits store
    layer = page.evaluate("""() => document.querySelector(
        '.st-key-grid_heatmap .js-plotly-plot')._fullData[0].text[2].split('<br>')[0]""")
    cells.nth(2).click(force=True)
    _settle(page)
    page.wait_for_url(re.compile(r"/search(\?|$)"), timeout=60_000)  # with its view's link
    _settle(page)
    expect(page.locator(".st-key-search_layer")).to_match_aria_snapshot(
        f'- combobox "Layer": {layer}', timeout=60_000)
    page.get_by_text("Browse the dataset to pick the query").click()
    _settle(page)
    uses = page.locator("[class*='st-key-search_gallery_use_']")
    expect(uses).to_have_count(24, timeout=60_000)
    key = [c for c in uses.nth(3).get_attribute("class").split()
           if c.startswith("st-key-search_gallery_use_")][0]
    uses.nth(3).get_by_role("button").click()
    _settle(page)
    expect(page.get_by_label("Image number")).to_have_value(key.rsplit("_", 1)[1],
                                                            timeout=60_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def _hover_until_thumbnail(page, key: str) -> tuple[float, float]:
    """Move the pointer across the Vega-Lite scatter ``key`` until its tooltip shows a
    point's thumbnail; return where (fails when no point shows one)."""
    from playwright.sync_api import expect

    chart = page.locator(f".st-key-{key} .vega-embed canvas, .st-key-{key} .vega-embed svg.marks")
    expect(chart.first).to_be_visible(timeout=60_000)
    box = chart.first.bounding_box()
    tip = page.locator("#vg-tooltip-element.visible img")
    for gy in range(5, 96, 3):
        for gx in range(5, 96, 3):
            x, y = box["x"] + box["width"] * gx / 100, box["y"] + box["height"] * gy / 100
            page.mouse.move(x, y)
            if tip.count():
                src = tip.first.get_attribute("src")
                assert src.startswith("data:image/png;base64,") and tip.first.is_visible()
                assert tip.first.evaluate("img => img.naturalWidth") > 0
                return x, y
    pytest.fail("no point of the scatter showed its image on hover")


@pytest.mark.parametrize("app_store", ["evolved"], indirect=True)
def test_projection_evolution_and_confusion_pages_in_a_real_browser(app_url, browser_page):
    """Lasso-select points; hover over a point to see its image and click it; draw the
    images themselves; move the epoch slider; open a confusion cell."""
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/projection")
    _settle(page)
    plot = page.locator(".js-plotly-plot .nsewdrag").first
    expect(plot).to_be_visible(timeout=60_000)
    box = plot.bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["height"] / 3
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for x, y in ((cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx - r, cy - r)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    _settle(page)
    expect(page.get_by_role("heading", name="selected")).to_be_visible(timeout=60_000)
    page.get_by_text("points, image on hover").click()
    _settle(page)
    x, y = _hover_until_thumbnail(page, "proj_chart_hover")
    page.mouse.click(x, y)  # the point under the pointer becomes the selection
    expect(page.get_by_role("heading", name="1 selected")).to_be_visible(timeout=60_000)
    page.locator(".st-key-proj_draw").get_by_text("images", exact=True).click()
    _settle(page)  # every test image of digits drawn at its place, composed into one image
    expect(page.locator(".st-key-proj_chart .layer-above image")).to_have_count(
        1, timeout=60_000)
    placed = page.evaluate("""() => document.querySelector(
        '.st-key-proj_chart .js-plotly-plot')._fullLayout.meta.thumbnails""")
    assert placed == len(range(4, 1797, 5))
    page.goto(app_url + "/evolution")
    _settle(page)
    expect(page.get_by_text("Mean displacement of a point")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name="epoch 1 → 2")).to_be_visible()
    page.get_by_role("slider").last.focus()
    page.keyboard.press("ArrowLeft")
    _settle(page)
    expect(page.get_by_role("heading", name="epoch 0 → 1")).to_be_visible(timeout=60_000)
    page.goto(app_url + "/confusion")
    _settle(page)
    expect(page.get_by_text("Accuracy")).to_be_visible(timeout=60_000)
    # a click on a cell of the matrix opens that cell (it used to do nothing)
    page.wait_for_selector(".st-key-conf_chart .scatterlayer .point", timeout=60_000)
    found = page.evaluate("""() => {
        const d = document.querySelector('.st-key-conf_chart .js-plotly-plot')._fullData[0];
        const i = d.text.findIndex((t, j) => t !== '' && d.x[j] !== d.y[j]);
        return [i, d.y[i], d.x[i]]; }""")
    page.locator(".st-key-conf_chart .scatterlayer .point").nth(found[0]).click(force=True)
    _settle(page)
    expect(page.get_by_role("heading", name=f"{found[1]} predicted as {found[2]}")
           ).to_be_visible(timeout=60_000)
    page.get_by_role("combobox", name="Cell (true → predicted); or click one in the "
                     "matrix").click()
    page.get_by_role("option").nth(1).click()
    _settle(page)
    expect(page.get_by_role("heading", name="predicted as")).to_be_visible()
    _images_loaded(page, 8)
    _screenshot(page, "-confusion")
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


@pytest.mark.parametrize("app_store", ["evolved"], indirect=True)
def test_training_triplet_and_spectrum_pages_in_a_real_browser(app_url, browser_page):
    """Training curves; click an anchor in the triplet scatter to see its three images and
    its path; the animation tab; the spectrum."""
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/training")
    _settle(page)
    expect(page.get_by_text("Training loss")).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot")).to_have_count(2)
    page.goto(app_url + "/triplets")
    _settle(page)
    chart = page.locator(".st-key-trip_scatter .js-plotly-plot")
    expect(chart).to_be_visible(timeout=60_000)
    x, y = page.evaluate("""() => {
      const gd = document.querySelector('.st-key-trip_scatter .js-plotly-plot');
      const t = gd._fullData.find(t => t.customdata && t.x && t.x.length);
      const xa = gd._fullLayout[t.xaxis.replace('x', 'xaxis')];
      const ya = gd._fullLayout[t.yaxis.replace('y', 'yaxis')];
      const r = gd.getBoundingClientRect();
      return [r.left + xa._offset + xa.d2p(t.x[0]), r.top + ya._offset + ya.d2p(t.y[0])];
    }""")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    _settle(page)
    expect(page.get_by_text("closest negative ·")).to_have_count(2, timeout=60_000)
    _images_loaded(page, 6)
    # the clicked anchor's path across epochs (points overlap: whichever plotly picked)
    assert page.evaluate("""() => document.querySelector('.st-key-trip_scatter .js-plotly-plot'
        )._fullData.some(t => (t.name || '').startsWith('anchor '))""")
    page.get_by_text("Similarity maps of this triplet").first.click()
    _settle(page)
    expect(page.get_by_text("Σ map")).to_have_count(2, timeout=60_000)  # positive, negative
    page.get_by_role("tab", name="Play all epochs").click()
    expect(page.locator(".st-key-trip_play .updatemenu-button")).not_to_have_count(0)
    page.goto(app_url + "/spectrum")
    _settle(page)
    expect(page.get_by_text("Explained variance per principal direction")).to_be_visible(
        timeout=60_000)
    expect(page.locator(".st-key-spec_truncation .js-plotly-plot")).to_be_visible()
    _screenshot(page, "-spectrum")


@pytest.mark.parametrize("app_store", ["evolved"], indirect=True)
def test_model_explorer_in_a_real_browser(app_url, browser_page, tmp_path):
    """Open a rendered channel from the layer's grid, see its image and top images; upload
    an image and see its feature maps."""
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/explorer")
    _settle(page)
    expect(page.get_by_text("optimised image").first).to_be_visible(timeout=60_000)
    page.get_by_role("tab", name="All rendered channels").click()
    button = page.get_by_role("button", name="ch ").last
    channel = button.inner_text().removeprefix("ch ").strip()
    button.click()
    _settle(page)
    page.get_by_role("tab", name="Channel").first.click()
    expect(page.get_by_text(f"stages.2 · channel {channel}")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("highest max activation")).to_be_visible()
    _images_loaded(page, 9)  # the optimised image and its 8 top images
    page.get_by_role("tab", name="Feature maps of an image").click()
    page.get_by_text("Upload an image").first.click()
    _settle(page)
    upload = tmp_path / "wide.png"
    upload.write_bytes(_png("RGB", (60, 40), (200, 30, 30)))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    _settle(page)
    expect(page.locator(".st-key-exp_maps .js-plotly-plot")).to_be_visible(timeout=60_000)
    _screenshot(page, "-explorer")


@pytest.mark.parametrize("app_store", ["fashion"], indirect=True)
def test_search_clicks_on_the_70k_store(app_url, browser_page):
    """The 70,000-image store: a result click and "Random image" each draw a new grid of
    50 (each click reruns only the query's fragment); the page says what answered."""
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/search")
    _settle(page)
    _grid_loaded(page, 50)
    expect(page.get_by_text("Answered by exact")).to_be_visible()
    for nth in (0, 7, 3):
        cell = page.get_by_role("button", name="Search this").nth(nth)
        target = cell.get_attribute("data-idx")
        cell.click()
        expect(page.locator(".vk-root")).to_have_attribute("data-query", target,
                                                           timeout=60_000)
        _grid_loaded(page, 50)
    before = page.locator(".vk-root").get_attribute("data-query")
    page.get_by_role("button", name="Random image").click()
    expect(page.locator(".vk-root")).not_to_have_attribute("data-query", before,
                                                           timeout=60_000)
    _settle(page)
    _grid_loaded(page, 50)
    expect(page.get_by_label("Image number")).to_have_value(
        page.locator(".vk-root").get_attribute("data-query"))


def test_a_link_opens_its_view_and_back_returns_to_it(app_url, browser_page):
    """A colleague's link lands on that view; changing a picker rewrites the address bar;
    the back button returns to the view before the change."""
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/search?dataset=digits&model=vizkit_small_cnn&weights=random"
              "&layer=stages.2&metric=euclidean&query=digit%2F0042")
    _settle(page)
    expect(page.locator(".st-key-search_layer")).to_match_aria_snapshot(
        '- combobox "Layer": stages.2', timeout=60_000)
    expect(page.get_by_label("Image number")).to_have_value("42")
    page.get_by_role("combobox", name="Layer").click()
    page.get_by_role("option", name="embedding").click()
    _settle(page)
    page.wait_for_url("**layer=embedding**", timeout=60_000)
    assert "metric=euclidean" in page.url and "query=digit%2F0042" in page.url
    page.go_back()
    _settle(page)
    expect(page.locator(".st-key-search_layer")).to_match_aria_snapshot(
        '- combobox "Layer": stages.2', timeout=60_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


ATLAS = "globalThis.vkAtlas[Object.keys(globalThis.vkAtlas)[0]]"


def _atlas_state(page) -> dict:
    return page.locator(".vk-atlas").evaluate("e => ({...e.dataset})")


def _to_screen(page, world_xy) -> tuple[float, float]:
    """Page coordinates of a world point under the atlas's current view."""
    box = page.locator(".vk-atlas-stage").bounding_box()
    x, y = page.evaluate(f"([x, y]) => {{ const a = {ATLAS}; return [a.xScale(x), "
                         f"a.yScale(y)]; }}", list(map(float, world_xy)))
    return box["x"] + x, box["y"] + y


@pytest.mark.parametrize("app_store", ["atlas"], indirect=True)
def test_the_atlas_zooms_to_thumbnails_lassos_and_searches(app_url, browser_page, app_store):
    """The whole map draws; wheel-zooming at an image reaches the deepest level, whose
    tiles show images; a lasso selects exactly the points inside it (checked against the
    layout's coordinates, in the browser and on the page); a click on a thumbnail at the
    deepest level opens semantic search with that very image."""
    from playwright.sync_api import expect

    from vizkit.compute.atlas import inside_polygon
    from vizkit.read import atlas as read_atlas
    from vizkit.read.catalog import Reader

    reader = Reader(app_store)
    (atlas,) = reader.catalog().atlases
    table = read_atlas.points(reader, atlas)
    world = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
    page, _ = browser_page
    page.goto(app_url + "/projection?draw=atlas")
    _settle(page)
    page.wait_for_selector('[data-vk-atlas-ready="1"]', timeout=60_000)
    root = page.locator(".vk-atlas")
    expect(root).to_have_attribute("data-vk-atlas-points", "1797")
    # the scatterplot uses the index the job ordered (the lasso below goes through it)
    assert root.evaluate("e => e.vkAtlas.sp.get('spatialIndex') === e.vkAtlas.pts.index")
    ids = 2 * 1797  # uint16 ids, padded to 8 bytes, then float32 x, y
    assert root.evaluate("e => e.vkAtlas.pts.index.byteLength") == 8 + ids + 6 + 8 * 1797
    # zoom in at an image until the deepest level's tiles are drawn
    target = int(np.argmin(np.abs(world - world.mean(0)).sum(1)))
    deepest = str(atlas.levels - 1)
    for _ in range(40):
        if _atlas_state(page).get("vkAtlasZoom") == deepest:
            break
        page.mouse.move(*_to_screen(page, world[target]))
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(60)
    expect(root).to_have_attribute("data-vk-atlas-zoom", deepest)
    page.wait_for_function("e => Number(e.dataset.vkAtlasLevelTiles) > 0",
                           arg=root.element_handle(), timeout=30_000)
    # a click on the centre of an image's own cell at the deepest level searches with it
    size, cells = atlas.cells * 2 ** atlas.levels // 2, table["cell"].to_numpy()
    size = atlas.cells * 2 ** (atlas.levels - 1)
    col, row = cells[target] % size, cells[target] // size
    centre = (np.array([col, row]) + .5) * atlas.world / size
    page.mouse.click(*_to_screen(page, centre))
    expect(page.locator(".vk-root")).to_have_attribute("data-query", str(target),
                                                       timeout=60_000)
    _settle(page)
    # back on the whole map, a lasso
    page.goto(app_url + "/projection?draw=atlas")
    _settle(page)
    page.wait_for_selector('[data-vk-atlas-ready="1"]', timeout=60_000)
    page.locator(".vk-atlas-lasso").click()
    lo, hi = np.percentile(world, 20, axis=0), np.percentile(world, 70, axis=0)
    corners = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]
    page.mouse.move(*_to_screen(page, corners[0]))
    page.mouse.down()
    for corner in corners[1:] + corners[:1]:
        page.mouse.move(*_to_screen(page, corner), steps=12)
    page.mouse.up()
    expected = int(inside_polygon(world, np.array(corners)).sum())
    page.wait_for_function("e => e.dataset.vkAtlasLassoed !== undefined",
                           arg=root.element_handle(), timeout=30_000)
    chosen = int(_atlas_state(page)["vkAtlasLassoed"])
    # the lasso drawn is the rectangle less what the pointer's first steps leave out; the
    # points inside the polygon the browser recorded are exactly the ones it selected
    assert abs(chosen - expected) <= expected // 20, (chosen, expected)
    drawn = np.array(page.evaluate(f"() => {ATLAS}.lastPolygon"))
    assert abs(int(inside_polygon(world, drawn).sum()) - chosen) <= 1
    # the browser's lasso test equals the server's on concave polygons with many vertices
    rng = np.random.default_rng(0)
    for vertices in (5, 40, 500):
        angle = np.sort(rng.uniform(0, 2 * np.pi, vertices))
        radius = rng.uniform(.2, 1, vertices) * atlas.world / 3
        poly = world.mean(0) + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
        unit = np.stack([2 * poly[:, 0] / atlas.world - 1, 1 - 2 * poly[:, 1] / atlas.world], 1)
        got = page.evaluate(f"p => {ATLAS}.inside(p)", unit.tolist())
        assert got == np.flatnonzero(inside_polygon(world, poly)).tolist()
    _settle(page)
    expect(page.get_by_role("heading", name=f"{chosen:,} selected")).to_be_visible(
        timeout=60_000)
    _screenshot(page, "-atlas")


@pytest.mark.parametrize("app_store", ["evolved_atlas"], indirect=True)
def test_the_epoch_slider_moves_the_atlas_through_a_runs_frames(app_url, browser_page):
    """On the training evolution page the atlas draws the chosen epoch's frame; the epoch
    slider swaps the frame and keeps the view where the user zoomed it."""
    from playwright.sync_api import expect

    page, _ = browser_page
    page.goto(app_url + "/evolution?draw=atlas&epoch=2")
    _settle(page)
    page.wait_for_selector('[data-vk-atlas-ready="1"]', timeout=60_000)
    root = page.locator(".vk-atlas")
    first = root.get_attribute("data-vk-atlas-key")
    box = page.locator(".vk-atlas-stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(3):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(100)
    page.wait_for_timeout(500)
    scale = root.get_attribute("data-vk-atlas-scale")
    page.get_by_role("slider").last.focus()
    page.keyboard.press("ArrowLeft")
    _settle(page)
    expect(root).not_to_have_attribute("data-vk-atlas-key", first, timeout=60_000)
    page.wait_for_selector('[data-vk-atlas-ready="1"]', timeout=60_000)
    expect(root).to_have_attribute("data-vk-atlas-scale", scale)
    page.wait_for_function("e => Number(e.dataset.vkAtlasLevelTiles) > 0",
                           arg=root.element_handle(), timeout=30_000)
    _screenshot(page, "-evolution-atlas")
