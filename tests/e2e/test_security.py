"""The Content-Security-Policy in the browser: the guard sees a violation, and the pages that
bring third-party code (the API docs) work under the policy without one."""

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORT, BrowserGuard, assert_accessible
from tests.e2e.world import audience_with, message_to, running_release

pytestmark = pytest.mark.browser

INJECT_INLINE_SCRIPT = """() => {
  const script = document.createElement("script");
  script.textContent = "window.injectedRan = true";
  document.body.appendChild(script);
}"""


def test_guard__page_injects_an_inline_script__blocked_and_listed_as_csp_violation(browser, live_server):
    # Given the login page, watched by a guard of its own (not the test's, which would fail this test)
    guard = BrowserGuard()
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    try:
        page = context.new_page()
        guard.watch(page)
        page.goto("/accounts/login/")

        # When something on the page adds an inline script (what an injection would do)
        page.evaluate(INJECT_INLINE_SCRIPT)
        guard.settle(page)
        ran = page.evaluate("() => window.injectedRan === true")
    finally:
        context.close()

    # Then the browser refused to run it, and the guard lists the violation
    assert not ran
    violations = [p for p in guard.unexpected() if p.startswith("CSP violation")]
    assert violations, guard.unexpected()
    assert "/accounts/login/" in violations[0] and "script-src" in violations[0]


def test_guard__violation_then_navigation__still_listed(browser, live_server):
    # Given a page that raised a violation
    guard = BrowserGuard()
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    try:
        page = context.new_page()
        guard.watch(page)
        page.goto("/accounts/login/")
        page.evaluate(INJECT_INLINE_SCRIPT)

        # When the test moves on to another page at once
        page.goto("/u/no-such-token/")
        guard.settle(page)
    finally:
        context.close()

    # Then the violation of the page it left is not lost
    assert any(p.startswith("CSP violation on") and "/accounts/login/" in p for p in guard.problems), guard.problems


def test_api_docs__swagger_ui_and_redoc__render_the_api_under_the_policy(open_page, manager, browser_guard):
    # Given anyone opening the API docs (the guard fails the test on any CSP violation)
    page = open_page()

    # When Swagger UI loads (its start-up script comes as a file, ?script)
    page.goto("/api/v1/docs/")

    # Then it has read the schema and lists the operations
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Flightdeck API")
    expect(page.locator(".opblock").first).to_be_visible()

    # And Redoc renders the same schema, its search (a worker) included. The one thing the
    # policy blocks there on purpose is Redoc's sidebar logo from its CDN: no third party
    # learns who reads the docs (Redoc hides the image when it does not load).
    for line in (
        r"img-src blocked https://cdn\.redoc\.ly/redoc/logo-mini\.svg$",
        r"^request failed: GET https://cdn\.redoc\.ly/redoc/logo-mini\.svg \(csp\)$",
        r"/api/v1/redoc/: Loading the image 'https://cdn\.redoc\.ly/redoc/logo-mini\.svg' violates",
    ):
        browser_guard.allow(line)
    page.goto("/api/v1/redoc/")
    expect(page.get_by_role("heading", name="Flightdeck API").first).to_be_visible()
    page.get_by_role("textbox", name="Search").fill("releases")
    expect(page.locator("[data-role='search:results'] li").first).to_be_visible()


def test_email_preview__html_part_in_its_frame__shown_under_the_policy(signed_in, manager):
    # Given a release with a message to a stakeholder (the email's footer carries inline styles)
    release = running_release(owner=manager, name="Checkout", version="5.0", slug="checkout-5")
    customers = audience_with(manager, "Customers", [("cara@example.com", "Cara Customer")])
    message = message_to(manager, release, customers, name="Heads-up")

    # When the manager previews it (the guard fails the test on any CSP violation)
    page = signed_in(manager)
    page.goto(f"/comms/releases/{release.slug}/plan/preview?message={message.pk}")

    # Then the HTML part renders in its frame, footer links included
    frame = page.frame_locator("iframe.preview-html")
    expect(frame.locator("body")).to_contain_text("Hello Cara Customer")
    expect(frame.get_by_role("link", name="Unsubscribe")).to_be_visible()


def test_sign_in__too_many_wrong_passwords__lockout_page_says_why_and_for_how_long(
    open_page, manager, browser_guard, shoot
):
    # Given someone typing wrong passwords into the real form
    browser_guard.allow(r"^HTTP 429 POST .*/accounts/login/$")  # the lockout page's status, on purpose
    page = open_page()
    page.goto("/accounts/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("Username").fill("manager")
        page.get_by_label("Password").fill("wrong-password-again")
        page.get_by_role("button", name="Sign in").click()
        if page.get_by_role("heading", name="Sign-in locked for a while").is_visible():
            break
        expect(page.get_by_role("alert")).to_contain_text("correct username and password")

    # Then the lockout page says what happened, for how long and who can lift it
    expect(page.get_by_role("heading", name="Sign-in locked for a while")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(f"locked for {settings.AXES_COOLOFF_MINUTES} minutes")
    expect(page.locator("main")).to_contain_text("axes_reset_username manager")
    shoot(page, "locked-out")
    assert_accessible(page, "lockout page")
