"""axe-core on the main pages: no violation of impact serious or critical.

Each page is opened as a release manager (who sees the most controls) on a world with a
running release, a known issue, a published doc, a flag, stakeholders and a notice, so forms,
badges and tables are on the page when axe looks. A page whose URL does not resolve yet
(its view is still being built) is skipped with the reason, so it shows in the summary.
"""

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from comms import tokens
from comms.models import Stakeholder
from flags import services as flag_services
from tests.e2e.conftest import assert_accessible
from tests.e2e.world import audience_with, known_issue, message_to, published_doc, running_release

pytestmark = pytest.mark.browser

SLUG = "checkout-5"
DOC = "one-page-checkout"

# (name, URL name, args): args name things the world below makes.
PAGES = [
    ("dashboard", "dashboard", ()),
    ("release-page", "release_detail", (SLUG,)),
    ("release-list", "release_list", ()),
    ("new-release", "release_create", ()),
    ("briefing", "briefings:detail", (SLUG,)),
    ("briefing-index", "briefings:index", ()),
    ("docs-index", "docs:index", ()),
    ("doc-page", "docs:page", (DOC,)),
    ("flags", "flags:list", ()),
    ("outbox", "comms_plan:outbox", ()),
    ("stakeholders", "comms:stakeholder_list", ()),
    ("schedule", "schedule", ()),
    ("calendar", "calendar", ()),
    ("calendar-feeds", "feeds:calendar", ()),
    ("release-templates", "template_list", ()),
]


@pytest.fixture
def world(manager, other_manager, approver, support):
    release = running_release(owner=other_manager, name="Checkout", version="5.0.0", slug=SLUG, rollback_steps=2)
    known_issue(support, release, "Saved cards missing")
    published_doc(other_manager, release, slug=DOC, title="One-page checkout")
    customers = audience_with(other_manager, "Customers", [("cara@example.com", "Cara"), ("dan@example.com", "Dan")])
    message_to(other_manager, release, customers, name="Heads-up")
    flag_services.flag_create(
        actor=other_manager,
        key="one-page-checkout",
        name="One-page checkout",
        type="boolean",
        variants={"on": True, "off": False},
        on_variant="on",
        off_variant="off",
        release=release,
    )
    return release


@pytest.mark.parametrize(("name", "url_name", "args"), PAGES, ids=[p[0] for p in PAGES])
def test_page__main_page_as_release_manager__no_serious_or_critical_axe_violations(
    name, url_name, args, world, signed_in, manager, shoot
):
    try:
        url = reverse(url_name, args=args)
    except NoReverseMatch:
        pytest.skip(f"{name}: the URL {url_name!r} does not resolve yet")
    page = signed_in(manager)
    page.goto(url)
    expect(page.locator("header .who")).to_contain_text("Maria Manager")
    if name == "release-page":  # its communication plan arrives by htmx after load
        expect(page.locator("#comms-plan")).not_to_contain_text("Open the communication plan")
    shoot(page, name)
    assert_accessible(page, name)
    # State is never carried by colour alone: every coloured badge and gate chip says it in words
    unlabelled = page.locator(".badge, .gate-chip").evaluate_all(
        "els => els.filter(e => !e.textContent.trim() && !e.getAttribute('aria-label')).map(e => e.outerHTML)"
    )
    assert unlabelled == [], f"{name}: badges that only a colour explains: {unlabelled}"


def test_page__public_login_unsubscribe_and_preferences__no_serious_or_critical_axe_violations(world, open_page, shoot):
    page = open_page()
    page.goto(reverse("login"))
    shoot(page, "login")
    assert_accessible(page, "login")

    token = tokens.stakeholder_token(Stakeholder.objects.get(email="cara@example.com").pk)
    page.goto(reverse("comms_public:unsubscribe", args=[token]))
    expect(page.get_by_role("button", name="Unsubscribe from everything")).to_be_visible()
    shoot(page, "unsubscribe")
    assert_accessible(page, "unsubscribe")

    page.goto(reverse("comms_public:preferences", args=[token]))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shoot(page, "preferences")
    assert_accessible(page, "preferences")
