"""The `lift3d serve` page in a real browser: pick a photo, see its cut-out, make the model,
see it in <model-viewer>, download it, find it among past jobs; no console errors.

Runs headless Chromium through Playwright against a real server in a subprocess. Set
``LIFT3D_SAVE_SCREENSHOT=docs/serve.png`` to also write the screenshot used in the docs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from serverkit import ServerProcess

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
MODEL_VIEWER = REPO / "web" / "node_modules" / "@google" / "model-viewer" / "dist"
MODEL_VIEWER_JS = MODEL_VIEWER / "model-viewer.min.js"
PHOTO = "instantmesh_bulldog.png"
# Software WebGL (SwiftShader) because headless has no GPU; the rest keeps Chromium from
# calling home, which on a closed network only floods the log with refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic",
]
JOB_TIMEOUT_MS = 120_000


@pytest.fixture
def sync_playwright():
    """Playwright's sync entry point; skips when a piece of the browser set-up is missing."""
    pw = pytest.importorskip("playwright.sync_api", reason="python package playwright missing")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    if not MODEL_VIEWER_JS.is_file():
        pytest.skip(f"{MODEL_VIEWER_JS} missing: run `npm ci --prefix web` or `bash install.sh`")
    return pw.sync_playwright


@pytest.fixture
def photo(shared_data: Path) -> Path:
    path = shared_data / "photos" / PHOTO
    if not path.is_file():
        pytest.skip(f"shared photo {path} missing")
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real `lift3d serve` on a free port; yields its base URL, always stops it."""
    proc = ServerProcess(tmp_path / "data", "--workers", "1")
    try:
        yield proc.url
    finally:
        proc.stop()


def _is_closed_network_noise(msg, base: str) -> bool:
    """A failed load of a URL off this machine: the test box has no network, the page uses
    none itself (everything is local), so such a line can only be Chromium's own traffic."""
    url = (msg.location or {}).get("url") or ""
    host = urlparse(url).hostname
    return "net::ERR_" in msg.text and bool(host) and host != urlparse(base).hostname


def test_page_makes_and_shows_a_model(sync_playwright, server: str, photo: Path,
                                      tmp_path: Path) -> None:
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 860})

            def on_console(msg) -> None:
                if msg.type == "error" and not _is_closed_network_noise(msg, server):
                    errors.append(f"console: {msg.text} ({msg.location})")

            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(f"{server}/")
            # The format boxes come from /v1/info: once they are there the page has started.
            page.wait_for_selector("#opt-formats input[value=glb]:checked", state="attached")

            page.set_input_files("#file-input", str(photo))
            assert "Single-photo" in page.inner_text("#mode")
            page.wait_for_function(
                "() => { const i = document.getElementById('mask-preview');"
                " return i.complete && i.naturalWidth > 0; }", timeout=60_000)

            page.click("#run")
            page.wait_for_selector('#viewer[data-loaded="true"]', state="attached",
                                   timeout=JOB_TIMEOUT_MS)
            assert page.get_attribute("#progress", "value") == "100"
            names = page.eval_on_selector_all("#downloads a[download]",
                                              "links => links.map(a => a.download)")
            assert "model.glb" in names
            page.wait_for_function(
                "name => [...document.querySelectorAll('#jobs li')].some("
                "li => li.textContent.includes(name) && li.querySelector('.badge.done'))",
                arg=photo.name, timeout=10_000)

            # model-viewer fades the model in after `load`; shoot once it is on screen.
            page.wait_for_function("() => document.getElementById('viewer').modelIsVisible")
            page.wait_for_timeout(1000)
            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot))
            if os.environ.get("LIFT3D_SAVE_SCREENSHOT"):
                target = Path(os.environ["LIFT3D_SAVE_SCREENSHOT"])
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, target)
        finally:
            browser.close()
    assert not errors, "\n".join(errors)
