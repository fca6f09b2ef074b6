"""The public links in every notice: one-click unsubscribe (RFC 8058) and preferences.

No login and no cookie: the signed token in the URL says who the stakeholder is.
"""

import pytest
from django.core import signing
from django.test import Client
from django.urls import include, path, reverse

from comms import planner, services
from comms.models import Membership, Stakeholder
from comms.tokens import stakeholder_token
from tests.factories import AudienceFactory, MessageFactory, StakeholderFactory

# The public pages until config/urls.py includes them at "u/"; listed first, so they win
# over that include once it exists and these tests keep meaning the same thing.
urlpatterns = [
    path("u/", include("comms.urls_public")),
    path("comms/", include("comms.urls")),
    path("", include("config.urls")),
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


@pytest.fixture
def customers():
    return AudienceFactory(name="Customers")


@pytest.fixture
def support_audience():
    return AudienceFactory(name="Support")


@pytest.fixture
def ana(customers, support_audience):
    return StakeholderFactory(email="ana@example.com", name="Ana", audiences=[customers, support_audience])


@pytest.fixture
def mail_provider():
    """A mail provider's one-click POST: no cookie, no session and CSRF checks enforced."""
    return Client(enforce_csrf_checks=True)


def unsubscribe_url(stakeholder) -> str:
    return reverse("comms_public:unsubscribe", args=[stakeholder_token(stakeholder.pk)])


def preferences_url(stakeholder) -> str:
    return reverse("comms_public:preferences", args=[stakeholder_token(stakeholder.pk)])


def fresh(stakeholder) -> Stakeholder:
    stakeholder.refresh_from_db()
    return stakeholder


def subscribed(stakeholder) -> set[str]:
    return set(
        Membership.objects.filter(stakeholder=stakeholder, unsubscribed_at__isnull=True).values_list(
            "audience__name", flat=True
        )
    )


# --- URLs -------------------------------------------------------------------------------


def test_public_urls__short_paths_under_u(ana):
    token = stakeholder_token(ana.pk)
    assert reverse("comms_public:unsubscribe", args=[token]) == f"/u/{token}"
    assert reverse("comms_public:preferences", args=[token]) == f"/u/{token}/preferences"


# --- One-click unsubscribe --------------------------------------------------------------


def test_one_click__post_without_cookie_or_csrf__200_and_opted_out(mail_provider, ana):
    # When the mail provider posts the RFC 8058 body, with no cookie and no CSRF token
    response = mail_provider.post(
        unsubscribe_url(ana), ONE_CLICK_BODY, content_type="application/x-www-form-urlencoded"
    )
    # Then it is a plain 200, not a redirect, and the stakeholder gets nothing more
    assert response.status_code == 200
    assert "Location" not in response
    assert "You are unsubscribed" in response.content.decode()
    assert fresh(ana).opted_out_at is not None
    assert not response.cookies
    assert "no-store" in response["Cache-Control"]


def test_one_click__multipart_body__200_and_opted_out(mail_provider, ana):
    response = mail_provider.post(unsubscribe_url(ana), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert fresh(ana).opted_out_at is not None


def test_one_click__twice__200_both_times_and_first_time_kept(mail_provider, ana):
    assert mail_provider.post(unsubscribe_url(ana), ONE_CLICK_BODY, content_type="text/plain").status_code == 200
    first = fresh(ana).opted_out_at
    assert mail_provider.post(unsubscribe_url(ana), ONE_CLICK_BODY, content_type="text/plain").status_code == 200
    assert fresh(ana).opted_out_at == first


def test_one_click__signed_in_manager_session__still_unsubscribes_only_the_token_owner(client, manager, ana):
    other = StakeholderFactory(email="ben@example.com")
    client.force_login(manager)
    assert client.post(unsubscribe_url(ana)).status_code == 200
    assert fresh(ana).opted_out_at is not None
    assert fresh(other).opted_out_at is None


def test_one_click__opted_out_stakeholder__no_longer_a_recipient(mail_provider, ana, customers):
    message = MessageFactory(audiences=[customers])
    assert [s for _, s in planner.recipients(message)] == [ana]
    mail_provider.post(unsubscribe_url(ana), ONE_CLICK_BODY, content_type="application/x-www-form-urlencoded")
    assert planner.recipients(message) == []


@pytest.mark.parametrize(
    "make_token",
    [
        lambda pk: "forged",
        lambda pk: stakeholder_token(pk)[:-1] + ("A" if stakeholder_token(pk)[-1] != "A" else "B"),
        lambda pk: stakeholder_token(pk).replace(
            stakeholder_token(pk).split(":")[0], signing.b64_encode(b'{"s":2}').decode()
        ),
        lambda pk: signing.dumps({"s": pk}, salt="some.other.salt"),
        lambda pk: signing.dumps({"s": pk}),
        lambda pk: stakeholder_token(pk)[:10],
    ],
    ids=["garbage", "signature-changed", "payload-changed", "other-salt", "no-salt", "cut-short"],
)
def test_one_click__forged_or_damaged_token__400_and_nothing_changes(mail_provider, ana, make_token):
    other = StakeholderFactory(email="ben@example.com")
    url = reverse("comms_public:unsubscribe", args=[make_token(ana.pk)])
    response = mail_provider.post(url, ONE_CLICK_BODY, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "This link is not valid" in response.content.decode()
    assert Stakeholder.objects.filter(opted_out_at__isnull=False).count() == 0
    assert fresh(other).opted_out_at is None
    assert mail_provider.get(url).status_code == 400
    assert mail_provider.get(url + "/preferences").status_code == 400


def test_one_click__stakeholder_deleted_since__200_they_get_nothing_anyway(mail_provider, ana):
    url = unsubscribe_url(ana)
    ana.delete()
    assert mail_provider.post(url, ONE_CLICK_BODY, content_type="application/x-www-form-urlencoded").status_code == 200
    assert mail_provider.get(url).status_code == 404


def test_unsubscribe__other_methods__405(mail_provider, ana):
    assert mail_provider.put(unsubscribe_url(ana)).status_code == 405
    assert mail_provider.delete(unsubscribe_url(ana)).status_code == 405


# --- The page behind the link -----------------------------------------------------------


def test_unsubscribe_get__does_not_unsubscribe_and_offers_button_and_preferences(mail_provider, ana):
    # When a person (or a mail scanner) opens the link
    url = unsubscribe_url(ana)
    response = mail_provider.get(url)
    # Then nothing changes: the page asks, with a button posting to the same URL
    assert response.status_code == 200
    assert fresh(ana).opted_out_at is None
    html = response.content.decode()
    assert f'<form method="post" action="{url}">' in html
    assert f'href="{url}/preferences"' in html
    assert "ana@example.com" in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert not response.cookies


def test_unsubscribe_get__many_times__never_unsubscribes(mail_provider, ana):
    for _ in range(3):
        mail_provider.get(unsubscribe_url(ana))
        mail_provider.head(unsubscribe_url(ana))
    assert fresh(ana).opted_out_at is None


def test_unsubscribe_page_button__post_without_body__200_and_opted_out(mail_provider, ana):
    response = mail_provider.post(unsubscribe_url(ana))
    assert response.status_code == 200
    assert fresh(ana).opted_out_at is not None


def test_unsubscribe_get__already_opted_out__says_so_and_links_preferences(mail_provider, ana):
    services.stakeholder_unsubscribe_all(ana.pk, "test")
    url = unsubscribe_url(ana)
    html = mail_provider.get(url).content.decode()
    assert "You are unsubscribed" in html
    assert f'href="{url}/preferences"' in html


# --- Preferences ------------------------------------------------------------------------


def test_preferences_get__lists_only_their_audiences_ticked(client, ana, customers):
    AudienceFactory(name="Executives")
    response = client.get(preferences_url(ana))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Customers" in html and "Support" in html
    assert "Executives" not in html
    assert html.count(" checked") == 2


def test_preferences_post__choose_one__the_other_unsubscribed(ana, customers):
    client = Client(enforce_csrf_checks=True)
    url = preferences_url(ana)
    client.get(url)  # sets the CSRF cookie, as a browser would
    token = client.cookies["csrftoken"].value
    response = client.post(url, {"audiences": [customers.pk], "action": "save", "csrfmiddlewaretoken": token})
    assert response.status_code == 303
    assert response["Location"] == f"{url}?saved=1"
    assert subscribed(ana) == {"Customers"}
    assert fresh(ana).opted_out_at is None
    assert 'id="saved"' in client.get(response["Location"]).content.decode()


def test_preferences_post__without_csrf_token__403_and_nothing_changes(ana, customers):
    client = Client(enforce_csrf_checks=True)
    response = client.post(preferences_url(ana), {"audiences": [customers.pk], "action": "save"})
    assert response.status_code == 403
    assert subscribed(ana) == {"Customers", "Support"}


def test_preferences_post__untick_everything__opted_out(client, ana):
    response = client.post(preferences_url(ana), {"action": "save"})
    assert response.status_code == 303
    assert response["Location"].endswith("?saved=unsubscribed")
    assert fresh(ana).opted_out_at is not None


def test_preferences_post__unsubscribe_all_button__opted_out(client, ana, customers):
    response = client.post(preferences_url(ana), {"action": "unsubscribe_all", "audiences": [customers.pk]})
    assert response.status_code == 303
    assert fresh(ana).opted_out_at is not None


def test_preferences__opted_out__resubscribes_by_ticking(client, ana, customers, support_audience):
    # Given Ana used the one-click link
    client.post(unsubscribe_url(ana), ONE_CLICK_BODY, content_type="application/x-www-form-urlencoded")
    page = client.get(preferences_url(ana)).content.decode()
    assert 'id="opted-out"' in page
    assert page.count(" checked") == 0
    # When she ticks Support and saves
    response = client.post(preferences_url(ana), {"audiences": [support_audience.pk], "action": "save"})
    # Then she receives Support notices again, and only those
    assert response.status_code == 303
    assert fresh(ana).opted_out_at is None
    assert subscribed(ana) == {"Support"}
    message = MessageFactory(audiences=[customers, support_audience])
    assert [s for _, s in planner.recipients(message)] == [ana]
    assert planner.recipients(MessageFactory(audiences=[customers])) == []


def test_preferences_post__audience_they_are_not_in__422_and_nothing_changes(client, ana):
    executives = AudienceFactory(name="Executives")
    response = client.post(preferences_url(ana), {"audiences": [executives.pk], "action": "save"})
    assert response.status_code == 422
    assert "Choose among the lists you are on." in response.content.decode()
    assert not Membership.objects.filter(audience=executives).exists()
    assert subscribed(ana) == {"Customers", "Support"}


def test_preferences_post__not_a_number__422(client, ana):
    response = client.post(preferences_url(ana), {"audiences": ["abc"], "action": "save"})
    assert response.status_code == 422


def test_preferences__stakeholder_deleted__404(client, ana):
    url = preferences_url(ana)
    ana.delete()
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "save"}).status_code == 404


def test_preferences__no_memberships__says_so_and_still_offers_unsubscribe(client):
    loner = StakeholderFactory()
    html = client.get(preferences_url(loner)).content.decode()
    assert "on no mailing list" in html
    assert 'value="unsubscribe_all"' in html


# --- Services ---------------------------------------------------------------------------


def test_stakeholder_unsubscribe_all__twice__true_then_false(ana):
    assert services.stakeholder_unsubscribe_all(ana.pk, "test") is True
    assert services.stakeholder_unsubscribe_all(ana.pk, "test") is False


def test_stakeholder_set_preferences__foreign_audience__refused(ana):
    from django.core.exceptions import ValidationError

    executives = AudienceFactory(name="Executives")
    with pytest.raises(ValidationError):
        services.stakeholder_set_preferences(ana.pk, [executives.pk])
    assert not Membership.objects.filter(audience=executives).exists()
