"""For the customer pages' tests: a real headless Chromium (Debian's ``chromium``, driven by playwright) that may
reach the server under test only, and screenshots of each page at phone and desktop widths, written where a
person can look at them after the run (not committed): $CRM_SCREENSHOTS_DIR, else build/screenshots/."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.providers import SmtpSink
from tests.servers import CrmServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="no chromium binary on this machine (.ci/run installs Debian's chromium)")
SCREENSHOTS = Path(os.environ.get("CRM_SCREENSHOTS_DIR") or Path(__file__).resolve().parents[1] / "build" / "screenshots")
WIDTHS = {"phone": (390, 844), "desktop": (1280, 800)}


@contextmanager
def mailing_server(directory, secret: str, **config):
    """(server, smtp): a running ``crm serve`` whose email goes to a real SMTP server of its own (aiosmtpd), and
    whose links in messages point at itself."""
    with SmtpSink() as smtp:
        server = CrmServer(directory, SECRET_KEY=secret, MESSAGES_SMTP_HOST="127.0.0.1", MESSAGES_SMTP_PORT=smtp.port,
                           **config)
        server.env["CRM_PUBLIC_BASE_URL"] = server.url
        server.start()
        try:
            yield server, smtp
        finally:
            server.stop()


@contextmanager
def browser_page(base_url: str):
    """A page whose every request to another host fails the test (collected in ``page.foreign``), as do page
    errors, console errors and CSP violations (``page.problems``); the caller asserts both are empty."""
    from playwright.sync_api import sync_playwright

    own = urlsplit(base_url).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        try:
            context = browser.new_context(viewport={"width": WIDTHS["phone"][0], "height": WIDTHS["phone"][1]})
            page = context.new_page()
            page.foreign, page.problems = [], []

            def route(request_route):
                if urlsplit(request_route.request.url).netloc == own:
                    request_route.continue_()
                else:
                    page.foreign.append(request_route.request.url)
                    request_route.abort("internetdisconnected")

            context.route("**/*", route)
            page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
            page.on("console", lambda message: page.problems.append(f"console {message.type}: {message.text}")
                    if message.type == "error" else None)
            yield page
        finally:
            browser.close()


def screenshot(page, name: str) -> list[Path]:
    """``name``-phone.png and ``name``-desktop.png of what the page shows now (the full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    paths = []
    for width_name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        path = SCREENSHOTS / f"{name}-{width_name}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size({"width": WIDTHS["phone"][0], "height": WIDTHS["phone"][1]})
    return paths
