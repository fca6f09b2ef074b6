"""Support watches a release's briefing while the release manager advances it elsewhere:
the exposure changes in place, without a reload. Then support files a known issue inline."""

import pytest
from playwright.sync_api import expect

from rollouts import transitions
from tests.factories import release_with_phases

pytestmark = pytest.mark.browser

POLL_WAIT_MS = 15_000  # the briefing polls every 5 s


def test_support__briefing_of_running_release__exposure_follows_the_rollout_live(
    sign_in, manager, approver, support, page_errors
):
    # Given a running canary whose first gate has passed
    release = release_with_phases(owner=manager, name="Checkout", version="4.0.0", slug="checkout-4")
    transitions.release_start(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)

    # And support reading its briefing
    sup = sign_in(support)
    sup.get_by_role("link", name="Briefings").click()
    expect(sup.locator("#in-flight")).to_contain_text("exposure 1%")
    sup.get_by_role("link", name="Checkout 4.0.0").click()
    expect(sup.get_by_role("heading", level=1)).to_contain_text("Support briefing: Checkout")
    expect(sup.locator("#exposure")).to_have_text("Exposure 1%")
    expect(sup.locator("#current-phase")).to_contain_text("Phase 1")
    sup.evaluate("window.__sameDocument = true")

    # When the release manager advances it from the release page, in a browser of her own
    mgr = sign_in(manager)
    mgr.goto("/releases/checkout-4/")
    mgr.locator('[data-action="advance"]').click()
    expect(mgr.locator("#release-body .messages")).to_contain_text("Advanced: “Phase 2” is now active at 10%.")

    # Then support's briefing shows the new exposure and phase, swapped in place
    expect(sup.locator("#exposure")).to_have_text("Exposure 10%", timeout=POLL_WAIT_MS)
    expect(sup.locator("#current-phase")).to_contain_text("Phase 2")
    expect(sup.locator("#timeline")).to_contain_text("advanced the release")
    assert sup.evaluate("window.__sameDocument") is True

    # When support adds a known issue inline but forgets the title
    sup.get_by_role("link", name="+ Add known issue").click()
    form = sup.locator("form.briefing-form")
    form.get_by_label("Description").fill("EU customers see no saved cards.")
    form.get_by_role("button", name="Add known issue").click()
    # Then the error is next to the title and what they typed is still there
    expect(form.locator(".field.has-error .error")).to_contain_text("Give the issue a short title")
    expect(form.get_by_label("Description")).to_have_value("EU customers see no saved cards.")

    # When they give it a title and a workaround
    form.get_by_label("Title").fill("Saved cards missing")
    form.get_by_label("Status").select_option(label="Workaround available")
    form.get_by_label("Workaround").fill("Log out and in again.")
    form.get_by_role("button", name="Add known issue").click()

    # Then it is on the briefing and the timeline, still without a reload
    issue = sup.locator("#known-issues .known-issue")
    expect(issue).to_contain_text("Saved cards missing")
    expect(issue).to_contain_text("Log out and in again.")
    expect(sup.locator("#known-issues h2")).to_contain_text("1 open")
    expect(sup.locator("#timeline")).to_contain_text("added a known issue “Saved cards missing”")
    assert sup.evaluate("window.__sameDocument") is True
    assert page_errors == []
