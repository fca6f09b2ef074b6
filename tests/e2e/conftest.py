"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live_server.

Without a Chromium these tests skip on a laptop; with CI=true they fail instead, so a CI
image that lost its browser never passes by running nothing.
"""

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 900}


def _find_chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{reason} CI=true, so browser tests must run here: install Debian's chromium "
            "(apt-get install chromium) and the playwright package.",
            pytrace=False,
        )
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    executable = _find_chromium()
    if executable is None:
        _unavailable("No Chromium found (looked for /usr/bin/chromium, chromium and chromium-browser on PATH).")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("The playwright package is not installed.")

    # Playwright's sync API keeps an asyncio loop running in this thread, which makes Django
    # refuse ORM calls from fixtures and tests. Allowed only while the browser is up: the
    # database flush after each test still runs inside this window, and tests that run after
    # this module get Django's check back.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught JavaScript errors from every page the test opened; a test asserts it stays empty."""
    return []


@pytest.fixture
def open_page(browser, live_server, page_errors) -> Iterator[Callable]:
    """Open a page in a fresh browser context (own cookies, so own user) on the live server."""
    contexts = []

    def open_page():
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: page_errors.append(f"{page.url}: {error}"))
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def sign_in(open_page, password) -> Callable:
    """Sign a user in through the real login form, in a browser context of their own."""
    from playwright.sync_api import expect

    def sign_in(user):
        page = open_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("header .who")).to_contain_text(user.get_full_name())
        return page

    return sign_in
