"""The browser guard itself: what it counts as a problem, and what it lets pass by design."""

from types import SimpleNamespace

import pytest

from tests.e2e.conftest import VIEWPORT, BrowserGuard

pytestmark = pytest.mark.browser


def request(url, failure=None, method="GET"):
    return SimpleNamespace(url=url, method=method, failure=failure)


def response(url, status):
    return SimpleNamespace(url=url, status=status, request=request(url))


def test_guard__console_error_and_uncaught_throw_in_chromium__both_listed(browser):
    # Given a page watched by a guard of its own (not the test's, which would fail this test)
    guard = BrowserGuard()
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        guard.watch(page)
        page.set_content("<!doctype html><title>guard</title><main>guard</main>")

        # When the page logs an error and throws one nobody catches
        page.evaluate("console.error('boom from the page')")
        page.evaluate("setTimeout(() => { throw new Error('thrown and not caught'); }, 0)")
        page.wait_for_timeout(200)
    finally:
        context.close()

    # Then both are problems
    text = "\n".join(guard.unexpected())
    assert "console error" in text and "boom from the page" in text
    assert "uncaught error" in text and "thrown and not caught" in text


def test_guard__responses_and_failed_requests__5xx_4xx_and_failures_listed_htmx_answers_and_aborts_not():
    guard = BrowserGuard()
    # When responses and failed requests of every kind arrive
    for status in (200, 302, 304, 404, 409, 422, 500, 503):
        guard._response(response(f"http://x/{status}", status))
    guard._request_failed(request("http://x/refused", "net::ERR_CONNECTION_REFUSED"))
    guard._request_failed(request("http://x/aborted", "net::ERR_ABORTED"))  # navigation or htmx swap

    # Then 404, 500, 503 and the refused request are problems; 409 and 422 (answers htmx swaps
    # in place) and the aborted request are not
    assert guard.unexpected() == [
        "HTTP 404 GET http://x/404",
        "HTTP 500 GET http://x/500",
        "HTTP 503 GET http://x/503",
        "request failed: GET http://x/refused (net::ERR_CONNECTION_REFUSED)",
    ]

    # And a test's allow-list takes off what it expects
    guard.allow(r"HTTP 404 GET .*/404$")
    assert len(guard.unexpected()) == 3
