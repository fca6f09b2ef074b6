"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live_server.

Without a Chromium these tests skip on a laptop; with CI=true they fail instead, so a CI
image that lost its browser never passes by running nothing.

What every browser test gets from here:

- `sign_in(user)` signs a person in through the real login form, in a browser context of
  their own (own cookies); `manager_page`, `approver_page`, `support_page` are the usual three.
- A guard on every page those open (`browser_guard`): at teardown the test fails, listing
  each problem, when a page logged a console error, threw an uncaught error, a request
  failed, or the server answered >= 400. Not problems, by design:
    * 409 and 422: the answers htmx swaps in place (a refused transition, a form with errors;
      base.html's htmx-config marks them as non-errors). Chromium's console line "Failed to
      load resource: … status of 4xx/5xx" is judged through the response, not twice.
    * net::ERR_ABORTED: the browser cancelling a request because the page navigated or
      htmx replaced the element that sent it; the server did not fail.
  And a Content-Security-Policy violation is a problem on every page and frame: an init
  script (which the page's own policy does not govern) listens for `securitypolicyviolation`
  and hands each one to the guard at once through an exposed function, so a violation on a
  page the test has already left is not lost.
  Anything else a test expects (a 404 page it opens on purpose) goes on its allow-list:
  `browser_guard.allow(r"HTTP 404 GET .*/missing/")`, a regex searched in the problem line.
- `shoot(page, name)`: a full-page screenshot at test-results/screenshots/<test>/<name>.png
  (test-results/ is git-ignored and kept by CI); a failing test also leaves failure-<n>.png
  of every page it had open.
- `assert_accessible(page)`: axe-core (vendored in static/vendor/) on the page as it is;
  fails on violations of impact serious or critical, naming rule, impact, help and targets.
"""

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

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

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-results" / "screenshots"
AXE_IMPACTS_THAT_FAIL = ("serious", "critical")
EXPECTED_STATUSES = frozenset({409, 422})  # htmx swaps these in place: see the module docstring
STATUS_CONSOLE_LINE = re.compile(r"^Failed to load resource: the server responded with a status of \d{3}")
CSP_REPORTER = "flightdeckCspViolation"
# Runs in every document and frame before the page's own scripts; calls CSP_REPORTER.
CSP_RECORDER = """
(() => {
  const report = (event) => {
    const seen = {
      url: document.location.href,
      directive: event.effectiveDirective || event.violatedDirective,
      blocked: event.blockedURI || "",
      source: event.sourceFile ? event.sourceFile + ":" + event.lineNumber : "",
      sample: event.sample || "",
    };
    (window.__cspViolations = window.__cspViolations || []).push(seen);
    if (typeof window.flightdeckCspViolation === "function") window.flightdeckCspViolation(seen);
  };
  window.addEventListener("securitypolicyviolation", report, true);
})();
"""


def axe_script() -> Path:
    """The one vendored axe-core build, static/vendor/axe-core-<version>.min.js."""
    found = sorted((ROOT / "static" / "vendor").glob("axe-core-*.min.js"))
    assert len(found) == 1, f"expected exactly one vendored axe-core, found {[p.name for p in found]}"
    return found[0]


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


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


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


class BrowserGuard:
    """Records what went wrong in the pages it watches; the `open_page` fixture fails the
    test with the list at teardown."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.allowed: list[re.Pattern] = []
        self.page_errors: list[str] = []  # uncaught JavaScript errors only (the older fixture)
        self.recording = True

    def allow(self, pattern: str) -> None:
        """Expect a problem: a regex searched in its line, e.g. r"HTTP 404 GET .*/missing/"."""
        self.allowed.append(re.compile(pattern))

    def watch(self, page) -> None:
        page.expose_function(CSP_REPORTER, self._csp_violation)
        page.add_init_script(CSP_RECORDER)
        page.on("console", lambda msg: self._console(page, msg))
        page.on("pageerror", lambda error: self._page_error(page, error))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _add(self, line: str) -> None:
        if self.recording:
            self.problems.append(line)

    def _console(self, page, msg) -> None:
        if msg.type == "error" and not STATUS_CONSOLE_LINE.match(msg.text):
            self._add(f"console error on {page.url}: {msg.text}")

    def _page_error(self, page, error) -> None:
        self.page_errors.append(f"{page.url}: {error}")
        self._add(f"uncaught error on {page.url}: {error}")

    def _csp_violation(self, seen: dict) -> None:
        where = f" at {seen['source']}" if seen.get("source") else ""
        sample = f" ({seen['sample']!r})" if seen.get("sample") else ""
        blocked = seen.get("blocked") or "?"
        self._add(f"CSP violation on {seen.get('url')}: {seen.get('directive')} blocked {blocked}{where}{sample}")

    def settle(self, page) -> None:
        """Let violations the page has raised but not yet reported reach the guard."""
        with contextlib.suppress(Exception):  # a closed or crashed page has nothing left to report
            page.evaluate("() => new Promise((done) => setTimeout(done, 50))")

    def _request_failed(self, request) -> None:
        failure = request.failure or ""
        if "net::ERR_ABORTED" not in failure:
            self._add(f"request failed: {request.method} {request.url} ({failure})")

    def _response(self, response) -> None:
        if response.status >= 400 and response.status not in EXPECTED_STATUSES:
            self._add(f"HTTP {response.status} {response.request.method} {response.url}")

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self.allowed)]


@pytest.fixture
def browser_guard() -> BrowserGuard:
    return BrowserGuard()


@pytest.fixture
def page_errors(browser_guard) -> list[str]:
    """Uncaught JavaScript errors from every page the test opened (the guard checks more)."""
    return browser_guard.page_errors


def _test_folder(node) -> Path:
    return SCREENSHOTS / re.sub(r"[^\w.-]+", "_", node.name).strip("_")


@pytest.fixture
def screenshots(request) -> Path:
    """This test's screenshot folder, emptied first so no picture of an earlier run misleads."""
    folder = _test_folder(request.node)
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@pytest.fixture
def shoot(screenshots) -> Callable:
    """shoot(page, "release-page"): full-page screenshot under test-results/screenshots/<test>/."""

    def shoot(page, name: str) -> Path:
        path = screenshots / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot


@pytest.fixture
def open_page(browser, live_server, browser_guard, screenshots, request) -> Iterator[Callable]:
    """Open a page in a fresh browser context (own cookies, so own user) on the live server."""
    contexts = []
    pages = []

    def open_page():
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        browser_guard.watch(page)
        pages.append(page)
        return page

    yield open_page

    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        for n, page in enumerate(pages, 1):
            try:
                path = screenshots / f"failure-{n}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(path), full_page=True)
            except Exception:  # a page that is gone leaves no picture; the failure stands
                pass
    for page in pages:
        browser_guard.settle(page)
    browser_guard.recording = False  # closing cancels in-flight polls; that is no problem of the page
    for context in contexts:
        context.close()
    problems = browser_guard.unexpected()
    if not problems:
        return
    report = "The browser saw problems:\n  " + "\n  ".join(problems)
    if call is not None and call.failed:
        print(report)  # the test failed already; this goes with its captured output
    else:
        pytest.fail(report, pytrace=False)


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


@pytest.fixture
def signed_in(open_page, live_server) -> Callable:
    """A page already signed in as the user (a session made on the server, its cookie handed to
    the browser): for tests that check pages, not signing in; it saves the login round trip."""
    from django.conf import settings
    from django.test import Client

    def signed_in(user):
        client = Client()
        client.force_login(user)
        page = open_page()
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
        return page

    return signed_in


@pytest.fixture
def manager_page(sign_in, manager):
    return sign_in(manager)


@pytest.fixture
def approver_page(sign_in, approver):
    return sign_in(approver)


@pytest.fixture
def support_page(sign_in, support):
    return sign_in(support)


def axe_violations(page) -> list[dict]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # From the site's own static files: an inline copy would break its script-src policy.
        page.add_script_tag(url=f"/static/vendor/{axe_script().name}")
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [v for v in violations if v.get("impact") in AXE_IMPACTS_THAT_FAIL]


def describe_violations(violations: list[dict]) -> str:
    """One line per rule (id, impact, help, first three targets), then what axe measured on each
    of those targets (e.g. the colours and ratio of a contrast failure)."""
    lines = []
    for v in violations:
        nodes = v["nodes"][:3]
        targets = [" ".join(map(str, node["target"])) for node in nodes]
        more = f" (+{len(v['nodes']) - 3} more)" if len(v["nodes"]) > 3 else ""
        lines.append(f"{v['id']} [{v['impact']}] {v['help']}: {', '.join(targets)}{more}")
        for target, node in zip(targets, nodes, strict=True):
            checks = [c for c in node.get("any", []) + node.get("all", []) + node.get("none", []) if c.get("message")]
            if checks:
                lines.append(f"    {target}: {checks[0]['message']}")
    return "\n  ".join(lines)


def assert_accessible(page, what: str = "") -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {what or page.url}:\n  {describe_violations(violations)}"
