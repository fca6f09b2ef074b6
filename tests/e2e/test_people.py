"""One browser test per person Flightdeck serves (DESIGN.md, "Who uses it"): what each does in
a real Chromium, a screenshot of every page they see (test-results/screenshots/<test>/), and the
guard of tests/e2e/conftest.py failing the test on any console error or failed request.

(Planning through the strategy form, with in-place plan edits, is test_release_flow.py's.)
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from comms import outbox, planner
from comms.models import Notice, Stakeholder, Trigger
from docs_portal.models import KnownIssue
from rollouts import release_templates, transitions
from rollouts.models import Release, ReleaseStatus
from tests.e2e.conftest import assert_accessible
from tests.e2e.world import audience_with, message_to, running_release
from tests.factories import release_with_phases
from tests.smtp import smtp_server_fixture  # noqa: F401 - the smtp_server fixture

pytestmark = pytest.mark.browser

# The accessible name of the focused element, as a screen reader would read it (labels without
# their aria-hidden "*" and without the control's own text).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {name: "", tag: "BODY", html: ""};
  const text = (node) => {
    const copy = node.cloneNode(true);
    copy.querySelectorAll('[aria-hidden="true"], input, select, textarea').forEach((n) => n.remove());
    return copy.textContent;
  };
  let name = el.getAttribute("aria-label") || "";
  const by = el.getAttribute("aria-labelledby");
  const byId = (id) => text(document.getElementById(id) || document.createElement("i"));
  if (!name && by) name = by.split(/\\s+/).map(byId).join(" ");
  if (!name && el.labels && el.labels.length) name = Array.from(el.labels).map(text).join(" ");
  if (!name && ["A", "BUTTON", "SUMMARY"].includes(el.tagName)) name = text(el);
  if (!name) name = el.getAttribute("title") || "";
  return {name: name.replace(/\\s+/g, " ").trim(), tag: el.tagName, html: el.outerHTML.slice(0, 160)};
}"""


def tab_to(page: Page, name: str, *, limit: int = 150) -> dict:
    """Press Tab until the control named `name` has focus; every control passed on the way must
    have a name (a label, aria-label or text), or the keyboard user would not know where they are."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused["tag"] == "BODY":
            continue
        assert focused["name"], f"focus landed on a control without a name: {focused['html']}"
        seen.append(focused["name"])
        if focused["name"] == name:
            return focused
    raise AssertionError(f"Tab never reached “{name}”; focus went through {seen}")


def phase_card(page: Page, name: str) -> Locator:
    return page.locator(f'li.phase[data-phase="{name}"]')


def messages(page: Page) -> Locator:
    return page.locator("#release-body .messages")


def plan_from_template(mgr: Page, shoot, *, template: str, name: str, version: str) -> str:
    """Plan a release from a saved template through the Templates page; return its URL."""
    mgr.get_by_role("link", name="Templates", exact=True).click()
    expect(mgr.get_by_role("heading", level=1)).to_have_text("Release templates")
    shoot(mgr, "02-templates")
    mgr.get_by_role("link", name=f"Start a release from {template}").click()
    mgr.get_by_role("textbox", name="Name", exact=True).fill(name)
    mgr.get_by_label("Version").fill(version)
    shoot(mgr, "03-new-release-from-template")
    mgr.get_by_role("button", name="Create release").click()
    expect(mgr.locator("#release-status")).to_have_text("Draft")
    expect(messages(mgr)).to_contain_text(f"Release “{name} {version}” planned from template “{template}”.")
    expect(mgr.locator("li.phase .phase-head .meta")).to_have_text(
        [
            "Production · 1% exposure · soak 0 min",
            "Production · 10% exposure · soak 0 min",
            "Production · 100% exposure · soak 0 min",
        ]
    )
    return mgr.url


def open_gate_waiting_for(page: Page, gate: str, release: str) -> None:
    """From the home page's "Waiting for you" section to the gate on its release page."""
    page.goto("/")
    waiting = page.locator("#waiting")
    expect(waiting).to_contain_text(f"{gate} (manual approval, required, 0 of 1 approvals) on Phase 1 of {release}")
    waiting.get_by_role("link", name=f"Approve or reject {gate}").click()
    expect(page).to_have_url(re.compile(r"/releases/[\w-]+/#gate-\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(release.split(" ")[0])


def approve(page: Page, phase: str, gate: str, comment: str) -> None:
    card = phase_card(page, phase)
    card.get_by_label("Approval comment").fill(comment)
    card.locator('[data-action="approve"]').click()
    expect(messages(page)).to_contain_text(f"You approved “{gate}”.")
    expect(phase_card(page, phase).locator(".gate-chip")).to_have_text("Passed")


def test_release_manager__plans_from_template_runs_it_and_rolls_another_back__completed_and_rolled_back(
    sign_in, manager, approver, shoot
):
    # Given a three-phase canary template (no soak, one approval per phase), and another
    # release of hers running
    source = release_with_phases(owner=manager, name="Canary source", version="0", slug="canary-source")
    release_templates.template_save_from_release(release_id=source.pk, name="Canary 1-10-100", actor=manager)
    other = running_release(owner=manager, name="Search", version="2.0.0", slug="search-2", rollback_steps=2)
    mgr = sign_in(manager)
    shoot(mgr, "01-dashboard")

    # When she plans a release from the template and starts it
    release_url = plan_from_template(mgr, shoot, template="Canary 1-10-100", name="Checkout", version="6.0.0")
    shoot(mgr, "04-release-draft")
    mgr.locator('[data-action="start"]').click()
    expect(mgr.locator("#release-status")).to_have_text("In progress")
    expect(phase_card(mgr, "Phase 1").locator(".blockers")).to_have_text("Waiting for required gate: Gate 1.1")
    shoot(mgr, "05-release-running")

    # And an approver, in a browser of their own, approves each gate while she advances
    apr = sign_in(approver)
    for phase, gate, nxt in (
        ("Phase 1", "Gate 1.1", "Phase 2"),
        ("Phase 2", "Gate 2.1", "Phase 3"),
        ("Phase 3", "Gate 3.1", ""),
    ):
        apr.goto(release_url)
        approve(apr, phase, gate, comment=f"{phase} looks healthy")
        mgr.reload()
        if nxt:
            phase_card(mgr, phase).locator('[data-action="advance"]').click()
            expect(messages(mgr)).to_contain_text(f"Advanced: “{nxt}” is now active at")
    shoot(apr, "06-approver-release-page")
    phase_card(mgr, "Phase 3").locator('[data-action="complete"]').click()

    # Then the canary is completed at 100%
    expect(mgr.locator("#release-status")).to_have_text("Completed")
    expect(mgr.locator("#exposure")).to_have_text("100% of phases done · exposure 100%")
    shoot(mgr, "07-release-completed")

    # When she rolls the other release back with a reason
    mgr.goto(other.get_absolute_url())
    expect(mgr.locator("#release-status")).to_have_text("In progress")
    mgr.get_by_text("Roll back…").click()
    mgr.get_by_label("Why roll back? (required)").fill("Search latency doubled in the 1% cohort")
    shoot(mgr, "08-rollback-reason")
    mgr.get_by_role("button", name="Start rollback").click()

    # Then a rollback run lists the plan's steps, and ticking them off finishes it
    run = mgr.locator("#rollback-run")
    expect(run.get_by_role("heading")).to_have_text("Rollback in progress")
    expect(run).to_contain_text("“Search latency doubled in the 1% cohort”")
    expect(run).to_contain_text("0 of 2 steps done")
    shoot(mgr, "09-rollback-running")
    for done, step in enumerate(("Step 1", "Step 2"), 1):
        mgr.get_by_label(f"Note for {step}").fill(f"{step} done")
        mgr.locator("#rollback-run li", has_text=step).get_by_role("button", name="Mark done").click()
        expect(mgr.locator("#rollback-run li", has_text=step)).to_contain_text(
            re.compile(f"Done by Maria Manager .*: “{step} done”")
        )
        if done < 2:
            expect(mgr.locator("#rollback-run")).to_contain_text(f"{done} of 2 steps done")
    expect(mgr.locator("#release-status")).to_have_text("Rolled back")
    expect(mgr.locator("#rollback-run").get_by_role("heading")).to_have_text("Rollback finished")
    shoot(mgr, "10-rolled-back")
    assert_accessible(mgr, "release page after a rollback")

    # And the database agrees
    assert Release.objects.get(name="Checkout", version="6.0.0").status == ReleaseStatus.COMPLETED
    other.refresh_from_db()
    assert other.status == ReleaseStatus.ROLLED_BACK


def test_approver__gate_waiting_for_them__approved_by_keyboard_from_the_home_page_and_passed(
    sign_in, manager, approver, shoot
):
    # Given a running canary whose first gate waits for an approval
    running_release(owner=manager, name="Checkout", version="7.0.0", slug="checkout-7")

    # When the approver signs in, goes from the home page to the gate and approves it
    apr = sign_in(approver)
    shoot(apr, "01-home")
    open_gate_waiting_for(apr, "Gate 1.1", "Checkout 7.0.0")
    card = phase_card(apr, "Phase 1")
    expect(card.locator(".gate-chip")).to_have_text("Pending")
    expect(apr.locator("#actions")).to_have_count(0)  # approvers decide gates; they do not run releases
    shoot(apr, "02-release-page")

    # (by keyboard alone: Tab to the comment box by its label, type, Tab to Approve, Enter)
    tab_to(apr, "Approval comment")
    apr.keyboard.type("Dashboards are green")
    focused = tab_to(apr, "Approve")
    assert focused["tag"] == "BUTTON"
    apr.keyboard.press("Enter")
    expect(messages(apr)).to_contain_text("You approved “Gate 1.1”.")
    expect(card.locator(".gate-chip")).to_have_text("Passed")

    # Then the gate has passed, with their decision on it and on the timeline
    expect(card.locator(".decisions")).to_contain_text("Priya Approver approved: “Dashboards are green”")
    expect(card.locator(".blockers")).to_have_count(0)
    expect(apr.locator("#timeline")).to_contain_text("Priya Approver cleared the gate “Gate 1.1”")
    shoot(apr, "03-gate-passed")

    # And nothing waits for them on the home page any more
    apr.goto("/")
    expect(apr.locator("#waiting")).to_contain_text("Nothing is waiting for you.")
    shoot(apr, "04-home-after")


def test_support__briefing_of_release_in_flight__adds_known_issue_by_keyboard_and_sees_it_listed(
    sign_in, manager, support, shoot
):
    # Given a release in flight
    running_release(owner=manager, name="Checkout", version="8.0.0", slug="checkout-8")

    # When support opens its briefing from the briefings index
    sup = sign_in(support)
    sup.get_by_role("link", name="Briefings").click()
    expect(sup.locator("#in-flight")).to_contain_text("Checkout 8.0.0")
    shoot(sup, "01-briefing-index")
    sup.get_by_role("link", name="Checkout 8.0.0").click()
    expect(sup.get_by_role("heading", level=1)).to_contain_text("Support briefing: Checkout")
    expect(sup.locator("#known-issues h2")).to_contain_text("0 open")
    shoot(sup, "02-briefing")

    # And adds a known issue with a workaround using only the keyboard: every control Tab
    # reaches on the way has a name, and each field of the form is reached by its label
    tab_to(sup, "+ Add known issue")
    sup.keyboard.press("Enter")
    form = sup.locator("form.briefing-form")
    expect(form.get_by_label("Title")).to_be_visible()
    tab_to(sup, "Title")
    sup.keyboard.type("Saved cards missing")
    tab_to(sup, "Status")
    for _ in range(5):
        if form.get_by_label("Status").input_value() == "workaround":
            break
        sup.keyboard.press("ArrowDown")
    expect(form.get_by_label("Status")).to_have_value("workaround")
    tab_to(sup, "Description")
    sup.keyboard.type("EU customers see no saved cards at checkout.")
    tab_to(sup, "Workaround")
    sup.keyboard.type("Log out and in again.")
    shoot(sup, "03-known-issue-form")
    assert_accessible(sup, "briefing with the known-issue form open")
    tab_to(sup, "Add known issue")
    sup.keyboard.press("Enter")

    # Then it is listed with its status in words (not only a colour) and its workaround
    issue = sup.locator("#known-issues .known-issue")
    expect(issue).to_have_count(1)
    expect(issue.locator(".issue-title")).to_have_text("Saved cards missing")
    expect(issue.locator(".badge")).to_have_text("Workaround available")
    expect(issue.locator(".workaround")).to_contain_text("Log out and in again.")
    expect(sup.locator("#known-issues h2")).to_contain_text("1 open")
    shoot(sup, "04-known-issue-listed")
    assert KnownIssue.objects.get().status == "workaround"


def send_due(minutes_ahead: int) -> None:
    """What the beat's outbox task does, here and now: claim what is due, send it."""
    token, ids = outbox.claim_due(now=timezone.now() + timedelta(minutes=minutes_ahead))
    outbox.send_batch(token, ids)


def test_stakeholder__unsubscribes_from_the_link_in_a_notice__gets_no_further_notices(
    open_page, manager, live_server, settings, smtp_server, shoot
):
    # Given notices that go out through the outbox to a real SMTP server, linking to this site
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_server.host, smtp_server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.SITE_URL = live_server.url

    # And a running release with a heads-up to its customers, and a message for when it pauses
    release = running_release(owner=manager, name="Checkout", version="9.0.0", slug="checkout-9")
    customers = audience_with(manager, "Customers", [("cara@example.com", "Cara"), ("dan@example.com", "Dan")])
    message_to(manager, release, customers, name="Heads-up")
    message_to(manager, release, customers, name="Paused", trigger=Trigger.ON_PAUSE)
    planner.plan_release(release_id=release.pk)

    # When the heads-up is due and the outbox sends it
    send_due(minutes_ahead=2)
    smtp_server.wait_for(lambda received: len(received) == 2, timeout=10)
    [email] = smtp_server.to("cara@example.com")
    assert email.subject == "Heads-up: Checkout"

    # Then the email carries the same unsubscribe link in its body and its List-Unsubscribe header
    body_link = re.search(r"Unsubscribe: (\S+)", email.part("text/plain")).group(1)
    assert email.list_unsubscribe == f"<{body_link}>"
    assert email.list_unsubscribe_post == "List-Unsubscribe=One-Click"
    assert body_link.startswith(f"{live_server.url}/u/")
    assert f'href="{body_link}"' in email.part("text/html")

    # When Cara follows it in her browser (no sign-in) and confirms with one click
    page = open_page()
    page.goto(body_link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe?")
    expect(page.locator("main")).to_contain_text("cara@example.com")
    shoot(page, "01-unsubscribe")
    page.get_by_role("button", name="Unsubscribe from everything").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    shoot(page, "02-unsubscribed")
    assert Stakeholder.objects.get(email="cara@example.com").opted_out_at is not None

    # And the release pauses, which sends the second message
    transitions.release_pause(release_id=release.pk, actor=manager, reason="Error budget")
    send_due(minutes_ahead=3)

    # Then Dan gets it and Cara does not
    smtp_server.wait_for(lambda received: len(received) == 3, timeout=10)
    assert [m.subject for m in smtp_server.to("dan@example.com")] == ["Heads-up: Checkout", "Paused: Checkout"]
    assert [m.subject for m in smtp_server.to("cara@example.com")] == ["Heads-up: Checkout"]
    assert not Notice.objects.filter(recipient="cara@example.com", message__name="Paused", status="sent").exists()
