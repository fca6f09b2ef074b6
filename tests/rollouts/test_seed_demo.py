import pytest
from django.core.management import call_command

from rollouts.models import Event, Release, ReleaseStatus

pytestmark = pytest.mark.django_db


def test_seed_demo__run_twice__same_data_and_every_state_covered(capsys):
    call_command("seed_demo")
    first = (Release.objects.count(), Event.objects.count())
    call_command("seed_demo")
    assert (Release.objects.count(), Event.objects.count()) == first
    statuses = set(Release.objects.values_list("status", flat=True))
    assert {
        ReleaseStatus.DRAFT,
        ReleaseStatus.SCHEDULED,
        ReleaseStatus.IN_PROGRESS,
        ReleaseStatus.PAUSED,
        ReleaseStatus.ROLLING_BACK,
        ReleaseStatus.COMPLETED,
        ReleaseStatus.ROLLED_BACK,
        ReleaseStatus.CANCELLED,
    } <= statuses
    assert set(Release.objects.values_list("strategy", flat=True)) == {
        "canary",
        "blue_green",
        "rolling",
        "shadow",
        "feature_flag",
    }
    out = capsys.readouterr().out
    assert "maria" in out and "flightdeck-demo" in out


def test_seed_demo__once_after_load__changes_nothing(capsys):
    call_command("seed_demo")
    Release.objects.filter(slug="checkout-v2").delete()
    call_command("seed_demo", "--once")
    assert not Release.objects.filter(slug="checkout-v2").exists()
    assert "loaded before" in capsys.readouterr().out


def test_seed_demo__demo_users_can_sign_in(client):
    call_command("seed_demo")
    # Through the sign-in form, as a person does (it passes the sign-in throttle too)
    response = client.post("/accounts/login/", {"username": "maria", "password": "flightdeck-demo"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_seed_demo__docs_and_flags__loaded_once_and_the_checkout_flag_is_live(capsys):
    from docs_portal.models import DocPage
    from flags import snapshot
    from flags.evaluation import evaluate
    from flags.models import Flag, Segment

    call_command("seed_demo")
    call_command("seed_demo")
    assert DocPage.objects.count() >= 3
    assert set(Flag.objects.values_list("key", flat=True)) == {"one-page-checkout", "search-v5", "checkout-theme"}
    assert Segment.objects.filter(key="beta-testers").count() == 1
    snapshot.reset()
    outcome = evaluate(snapshot.current().flags["checkout-theme"], "production", "acme", {})
    assert outcome.value == "blue"
