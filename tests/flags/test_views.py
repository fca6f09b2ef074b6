"""Flag pages: who may do what, bad input answered next to the field, fixed query counts."""

import hashlib
import re

import pytest

from flags import services
from flags.models import ApiKey, Flag, Segment
from rollouts import transitions
from rollouts.models import Event, RollbackStep
from tests.flags.conftest import HX, advance, flag_release, make_flag, ofrep

pytestmark = pytest.mark.django_db

FLAG_POST = {
    "key": "new-checkout",
    "name": "New checkout",
    "description": "",
    "type": "boolean",
    "variants": "on = true\noff = false",
    "on_variant": "on",
    "off_variant": "off",
    "release": "",
    "fixed_exposure": "0",
}


def text(response) -> str:
    return response.content.decode()


# --- Permissions -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_flag_pages__readers__read_and_preview_but_cannot_change(client, role, request):
    flag = make_flag(fixed_exposure=100)
    client.force_login(request.getfixturevalue(role))
    assert client.get("/flags/").status_code == 200
    assert client.get("/flags/new-checkout/").status_code == 200
    assert client.get("/flags/segments/").status_code == 200
    assert client.get("/flags/new-checkout/preview/", {"environment": "production"}).status_code == 200
    assert client.get("/flags/new/").status_code == 403
    assert client.post("/flags/new/", FLAG_POST).status_code == 403
    assert client.post("/flags/new-checkout/kill/").status_code == 403
    assert client.get("/flags/new-checkout/edit/").status_code == 403
    assert client.get("/flags/api-keys/").status_code == 403
    assert client.post("/flags/segments/new/", {"key": "x", "name": "X", "targeting_keys": "a"}).status_code == 403
    flag.refresh_from_db()
    assert not flag.is_killed


def test_flag_pages__no_role__403_and_anonymous__login(client, outsider):
    assert client.get("/flags/").status_code == 302
    client.force_login(outsider)
    assert client.get("/flags/").status_code == 403


def test_flag_list__manager__shows_each_flag_in_fixed_queries(
    per_process_cache, manager_client, manager, django_assert_num_queries
):
    for i in range(3):
        make_flag(key=f"flag-{i}", release=flag_release(manager, slug=f"r{i}"))
    manager_client.get("/flags/")  # warm: session, snapshot
    with django_assert_num_queries(5):  # session, user, roles, flags with releases, their segments
        page = text(manager_client.get("/flags/"))
    make_flag(key="flag-9", fixed_exposure=10)
    manager_client.get("/flags/")
    with django_assert_num_queries(5):
        page = text(manager_client.get("/flags/"))
    assert all(f'id="flag-flag-{i}"' in page for i in (0, 1, 2, 9))


# --- Create and edit -------------------------------------------------------------------


def test_flag_create__manager__created_and_on_release_timeline(manager_client, manager):
    release = flag_release(manager)
    response = manager_client.post("/flags/new/", {**FLAG_POST, "release": release.pk})
    assert response.status_code == 303
    flag = Flag.objects.get()
    assert (flag.variants, flag.release, flag.on_variant) == ({"on": True, "off": False}, release, "on")
    event = Event.objects.get(verb="flag.created")
    assert event.data["flag"] == "new-checkout" and event.actor == manager
    page = text(manager_client.get(release.get_absolute_url()))
    assert "created a feature flag that follows this release" in page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"variants": "on = yes\noff = false"}, "variants", "Line 1: “yes” is not true or false"),
        ({"type": "integer", "variants": "on = 1.5\noff = 0"}, "variants", "“1.5” is not a whole number"),
        ({"type": "object", "variants": "on = [1\noff = {}"}, "variants", "is not JSON"),
        ({"on_variant": "enabled"}, "on_variant", "Choose one of the variants: on, off."),
        ({"off_variant": "on"}, "off_variant", "The off variant must differ from the on variant."),
        ({"variants": "on = true"}, "variants", "Give at least two variants"),
        ({"key": "api-keys"}, "key", "is used by Flightdeck"),
        ({"key": "Not a slug!"}, "key", "Enter a valid “slug”"),
        ({"fixed_exposure": "101"}, "fixed_exposure", "less than or equal to 100"),
    ],
)
def test_flag_create__bad_input__422_message_by_the_field_and_values_kept(manager_client, change, field, message):
    data = {**FLAG_POST, "name": "Typed name kept", **change}
    response = manager_client.post("/flags/new/", data)
    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert f'id="id_{field}_error"' in page
    assert "Typed name kept" in page
    assert not Flag.objects.exists()


def test_flag_create__duplicate_key__422(manager_client):
    make_flag()
    response = manager_client.post("/flags/new/", FLAG_POST)
    assert response.status_code == 422
    assert "A flag with this key exists." in text(response)


def test_flag_create__typed_flags__values_of_their_type(manager_client):
    posts = [
        ("colour", "string", 'blue = blue\ngreen = "green "', "blue", "green", {"blue": "blue", "green": "green "}),
        ("limit", "integer", "high = 100\nlow = 10", "high", "low", {"high": 100, "low": 10}),
        ("ratio", "float", "on = 3\noff = 0.5", "on", "off", {"on": 3.0, "off": 0.5}),
        (
            "layout",
            "object",
            'new = {"cols": 2}\nold = {"cols": 1}',
            "new",
            "old",
            {"new": {"cols": 2}, "old": {"cols": 1}},
        ),
    ]
    for key, type_, variants, on, off, expected in posts:
        data = {**FLAG_POST, "key": key, "type": type_, "variants": variants, "on_variant": on, "off_variant": off}
        assert manager_client.post("/flags/new/", data).status_code == 303, key
        assert Flag.objects.get(key=key).variants == expected


def test_flag_edit__link_to_another_release__both_timelines_say_so(manager_client, manager):
    first, second = flag_release(manager, slug="first"), flag_release(manager, slug="second")
    make_flag(release=first)
    page = text(manager_client.get("/flags/new-checkout/edit/"))
    assert 'value="new-checkout"' in page and "disabled" in page
    response = manager_client.post("/flags/new-checkout/edit/", {**FLAG_POST, "release": second.pk})
    assert response.status_code == 303
    assert Event.objects.filter(release=first, verb="flag.unlinked").exists()
    assert Event.objects.filter(release=second, verb="flag.linked").exists()


def test_flag_edit__bad_variants__422_and_flag_unchanged(manager_client):
    make_flag()
    response = manager_client.post("/flags/new-checkout/edit/", {**FLAG_POST, "variants": "on = 1\noff = 0"})
    assert response.status_code == 422
    assert Flag.objects.get().variants == {"on": True, "off": False}


# --- Detail, kill switch, targeting, preview -------------------------------------------


def test_flag_detail__release_flag__phases_history_and_now(
    per_process_cache, manager_client, manager, django_assert_num_queries
):
    release = flag_release(manager)
    make_flag(release=release)
    for i, phase in enumerate(release.phases.all()):
        segment = services.segment_create(actor=None, key=f"s{i}", name=f"S{i}", targeting_keys=["a"])
        services.phase_segments_set(phase_id=phase.pk, segments=[segment], actor=None)
    transitions.release_start(release_id=release.pk, actor=manager)
    manager_client.get("/flags/new-checkout/")
    # session, user, roles, flag, phases, their segments, history, all segments
    with django_assert_num_queries(8):
        page = text(manager_client.get("/flags/new-checkout/"))
    assert "Exposure per phase" in page and "Canary" in page
    assert 'id="now-staging"' in page and "On for everyone" in page
    assert "started the release" in page  # the release's events in the flag's history


def test_kill_switch__manager__off_with_reason_on_timeline(manager_client, manager, client, api_token):
    release = flag_release(manager, phases=(("All", "production", 100),))
    make_flag(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    response = manager_client.post("/flags/new-checkout/kill/", {"reason": "checkout errors"})
    assert response.status_code == 303
    assert Flag.objects.get().is_killed
    event = Event.objects.get(verb="flag.killed")
    assert event.reason == "checkout errors" and event.release == release
    page = text(manager_client.get("/flags/new-checkout/"))
    assert "Kill switch on" in page and "checkout errors" in page
    assert ofrep(client, "new-checkout", {"targetingKey": "u"}, api_token).json()["reason"] == "DISABLED"
    assert manager_client.post("/flags/new-checkout/restore/").status_code == 303
    assert not Flag.objects.get().is_killed


def test_targeting__manager_sets_phase_segments__evaluation_targets_them(manager_client, manager, client, api_token):
    release = flag_release(manager, phases=(("Beta testers", "production", 0),))
    make_flag(release=release)
    segment = services.segment_create(actor=None, key="beta-testers", name="Beta testers", targeting_keys=["ann"])
    phase = release.phases.get()
    transitions.release_start(release_id=release.pk, actor=manager)
    url = f"/flags/new-checkout/phases/{phase.pk}/segments/"
    assert manager_client.post(url, {f"p{phase.pk}-segments": [segment.pk]}).status_code == 303
    assert list(phase.flag_segments.all()) == [segment]
    assert Event.objects.get(verb="flag.targeting_changed").data["segments"] == ["beta-testers"]
    ann = ofrep(client, "new-checkout", {"targetingKey": "ann"}, api_token).json()
    assert (ann["variant"], ann["reason"], ann["metadata"]["segment"]) == ("on", "TARGETING_MATCH", "beta-testers")
    bob = ofrep(client, "new-checkout", {"targetingKey": "bob"}, api_token).json()
    assert (bob["variant"], bob["reason"]) == ("off", "DEFAULT")
    assert manager_client.post(url, {f"p{phase.pk}-segments": ["999"]}).status_code == 422


def test_preview__support__variant_reason_and_bucket(client, support):
    from flags.evaluation import bucket

    make_flag(fixed_exposure=30)
    client.force_login(support)
    response = client.get(
        "/flags/new-checkout/preview/",
        {"environment": "production", "targeting_key": "user-7", "attributes": "plan = pro"},
        **HX,
    )
    assert response.status_code == 200
    page = text(response)
    assert f'<strong id="preview-bucket">{bucket("new-checkout", "user-7")}</strong>' in page
    assert "SPLIT" in page
    assert "<html" not in page  # the partial only


def test_preview__missing_targeting_key_and_bad_attributes__messages(client, viewer):
    make_flag(fixed_exposure=30)
    client.force_login(viewer)
    page = text(client.get("/flags/new-checkout/preview/", {"environment": "production"}, **HX))
    assert "TARGETING_KEY_MISSING" in page
    response = client.get(
        "/flags/new-checkout/preview/", {"environment": "production", "attributes": "{not json"}, **HX
    )
    assert response.status_code == 422
    assert "This is not a valid JSON object." in text(response)
    assert "{not json" in text(response)


# --- Segments --------------------------------------------------------------------------


def test_segment_create__keys_and_rules__saved(manager_client):
    data = {
        "key": "beta-testers",
        "name": "Beta testers",
        "targeting_keys": "ann, bob\ncarl",
        "rules": "plan in pro, enterprise\napp_version semver_gte 2.3.0",
    }
    assert manager_client.post("/flags/segments/new/", data).status_code == 303
    segment = Segment.objects.get()
    assert segment.targeting_keys == ["ann", "bob", "carl"]
    assert segment.rules[1] == {"attribute": "app_version", "operator": "semver_gte", "values": ["2.3.0"]}
    page = text(manager_client.get("/flags/segments/beta-testers/"))
    assert "plan in pro, enterprise" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": "plan is pro"}, "Line 1: unknown operator “is”"),
        ({"rules": "version semver_gt latest"}, "“latest” is not a version such as 2.3.0"),
        ({"targeting_keys": "", "rules": ""}, "an empty segment matches no one"),
    ],
)
def test_segment_create__bad_input__422_and_kept(manager_client, data, message):
    post = {"key": "seg", "name": "Seg kept", "targeting_keys": "", **data}
    response = manager_client.post("/flags/segments/new/", post)
    assert response.status_code == 422
    assert message in text(response)
    assert "Seg kept" in text(response)
    assert not Segment.objects.exists()


def test_segment_remove__manager__gone_from_phases(manager_client, manager):
    release = flag_release(manager)
    make_flag(release=release)
    segment = services.segment_create(actor=None, key="s", name="S", targeting_keys=["a"])
    services.phase_segments_set(phase_id=release.phases.first().pk, segments=[segment], actor=None)
    assert manager_client.post("/flags/segments/s/remove/").status_code == 303
    assert not Segment.objects.exists()
    assert Event.objects.filter(verb="flag.segment_removed", release=release).exists()


# --- API keys --------------------------------------------------------------------------


def test_api_key_create__token_shown_once_and_stored_hashed(manager_client, client):
    make_flag(fixed_exposure=100)
    response = manager_client.post("/flags/api-keys/", {"environment": "beta", "name": "mobile-app"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = re.search(r'id="token-value" type="text" value="([^"]+)"', text(response)).group(1)
    key = ApiKey.objects.get()
    assert key.environment == "beta" and key.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ApiKey.objects.values().get())
    assert token not in text(manager_client.get("/flags/api-keys/"))
    assert ofrep(client, "new-checkout", {}, token).json()["metadata"]["environment"] == "beta"


def test_api_key_create__bad_input__422(manager_client):
    response = manager_client.post("/flags/api-keys/", {"environment": "moon", "name": ""})
    assert response.status_code == 422
    assert "Select a valid choice" in text(response) and "This field is required." in text(response)
    assert not ApiKey.objects.exists()


def test_api_key_revoke__manager__401_afterwards(manager_client, client, api_token):
    make_flag(fixed_exposure=100)
    key = ApiKey.objects.get()
    assert manager_client.post(f"/flags/api-keys/{key.pk}/revoke/").status_code == 303
    assert ApiKey.objects.get().revoked_at is not None
    assert ofrep(client, "new-checkout", {}, api_token).status_code == 401


# --- Support briefing lookup -----------------------------------------------------------


def test_briefing_lookup__customer__each_flag_of_the_release_answered(client, support, manager):
    from flags.evaluation import bucket

    release = flag_release(manager, phases=(("Half", "production", 50),))
    make_flag(key="new-checkout", release=release)
    make_flag(key="one-click", release=release)
    make_flag(key="unrelated", fixed_exposure=100)
    services.segment_create(actor=None, key="vip", name="VIP", targeting_keys=["acme"])
    services.phase_segments_set(phase_id=release.phases.get().pk, segments=Segment.objects.all(), actor=None)
    transitions.release_start(release_id=release.pk, actor=manager)
    client.force_login(support)
    params = {"release": release.slug, "targeting_key": "acme", "environment": "production"}
    response = client.get("/flags/briefing-lookup/", params, **HX)
    assert response.status_code == 200
    page = text(response)
    assert page.strip().startswith('<div id="flag-lookup-answer"')
    assert 'data-flag="new-checkout"' in page and 'data-flag="one-click"' in page
    assert "unrelated" not in page
    assert page.count("In: yes") == 2 and "TARGETING_MATCH" in page
    other = text(client.get("/flags/briefing-lookup/", {**params, "targeting_key": "zed"}, **HX))
    expected = "In: yes" if bucket("new-checkout", "zed") <= 50 else "In: no"
    assert expected in other and "SPLIT" in other


def test_briefing_lookup__no_key__422_message_and_page_without_htmx(client, support, manager):
    release = flag_release(manager)
    client.force_login(support)
    response = client.get("/flags/briefing-lookup/", {"release": release.slug, "targeting_key": ""}, **HX)
    assert response.status_code == 422
    assert "Type the customer’s targeting key" in text(response)
    page = text(client.get("/flags/briefing-lookup/", {"release": release.slug, "targeting_key": "x"}))
    assert "<html" in page and "No feature flag follows this release." in page
    assert client.get("/flags/briefing-lookup/", {"release": "nope"}).status_code == 404


def test_briefing_lookup_tag__renders_the_box(manager):
    from django.template import Context, Template

    release = flag_release(manager)
    html = Template("{% load flags_tags %}{% flag_lookup release %}").render(Context({"release": release}))
    assert 'name="release" value="flagged"' in html and 'hx-get="/flags/briefing-lookup/"' in html


# --- The rollback step form (rollouts) -------------------------------------------------


def test_rollback_step_form__flag_off_with_unknown_flag__422_message(manager_client, release):
    data = {"title": "Flags off", "owner": "", "expected_minutes": "1", "action": "flag_off", "action_flag": "nope"}
    response = manager_client.post("/releases/checkout/rollback-steps/add/", data, **HX)
    assert response.status_code == 422
    assert "There is no feature flag “nope”" in text(response)
    assert not RollbackStep.objects.exists()


def test_rollback_step_form__flag_off_existing_flag__saved_with_config(manager_client, release):
    make_flag()
    data = {
        "title": "Flag off",
        "owner": "",
        "expected_minutes": "1",
        "action": "flag_off",
        "action_flag": "new-checkout",
    }
    assert manager_client.post("/releases/checkout/rollback-steps/add/", data, **HX).status_code == 200
    step = RollbackStep.objects.get()
    assert (step.action, step.action_config) == ("flag_off", {"flag": "new-checkout"})
    form = text(manager_client.get(f"/releases/checkout/rollback-steps/{step.pk}/edit/", **HX))
    assert 'value="new-checkout"' in form


# --- Admin -----------------------------------------------------------------------------


def test_admin__every_flags_model__pages_load_and_edits_move_the_version(client, manager):
    from django.contrib.auth import get_user_model

    from flags.models import ConfigVersion

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    flag = make_flag(release=flag_release(manager))
    services.api_key_create(actor=None, environment="staging", name="app")
    for url in (
        "/admin/flags/flag/",
        f"/admin/flags/flag/{flag.pk}/change/",
        "/admin/flags/flag/add/",
        "/admin/flags/segment/",
        "/admin/flags/segment/add/",
        "/admin/flags/apikey/",
        "/admin/flags/configversion/",
    ):
        assert client.get(url).status_code == 200, url
    before = ConfigVersion.objects.get(pk=1).version
    data = {
        "key": "new-checkout",
        "name": "Renamed",
        "description": "",
        "type": "boolean",
        "variants": '{"on": true, "off": false}',
        "on_variant": "on",
        "off_variant": "off",
        "release": "",
        "fixed_exposure": "100",
        "created_by": "",
    }
    assert client.post(f"/admin/flags/flag/{flag.pk}/change/", data).status_code == 302
    assert ConfigVersion.objects.get(pk=1).version > before


@pytest.mark.parametrize("count", [1, 5])
def test_list_pages__few_or_many__same_query_count(
    per_process_cache, manager_client, manager, count, django_assert_num_queries
):
    release = flag_release(manager)
    for i in range(count):
        segment = services.segment_create(actor=None, key=f"s{i}", name=f"S{i}", targeting_keys=["a"])
        services.phase_segments_set(phase_id=release.phases.first().pk, segments=[segment], actor=None)
        services.api_key_create(actor=None, environment="production", name=f"app {i}")
        make_flag(key=f"flag-{i}", release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    params = {"release": release.slug, "targeting_key": "ann"}
    for url in ("/flags/segments/", "/flags/api-keys/", "/flags/briefing-lookup/"):
        manager_client.get(url, params, **HX)
    # session, user, roles, then: segments with counts | keys with their people | the release
    with django_assert_num_queries(4):
        manager_client.get("/flags/segments/")
    with django_assert_num_queries(4):
        manager_client.get("/flags/api-keys/")
    with django_assert_num_queries(4):
        page = text(manager_client.get("/flags/briefing-lookup/", params, **HX))
    assert page.count("data-flag=") == count


def test_briefing__release_with_flags__where_each_is_on_and_the_lookup_box(client, support, manager):
    # Given a running feature-flag release followed by a flag, with a segment on its first phase
    release = flag_release(manager)
    make_flag(key="new-checkout", release=release)
    services.segment_create(actor=None, key="beta", name="Beta testers", targeting_keys=["acme"])
    services.phase_segments_set(phase_id=release.phases.first().pk, segments=Segment.objects.all(), actor=None)
    transitions.release_start(release_id=release.pk, actor=manager)
    advance(release, manager)  # Canary: production at 10%
    client.force_login(support)
    # When support reads the briefing
    page = text(client.get(f"/briefings/{release.slug}/"))
    # Then it says where the flag is on, with its segments, and offers the customer lookup
    assert 'data-flag="new-checkout"' in page
    assert "Staging 100% + segments beta" in page and "Production 10% + segments beta" in page
    assert 'id="flag-lookup"' in page


def test_briefing__release_without_flags__no_flag_box(client, support, manager):
    release = flag_release(manager, slug="plain")
    transitions.release_start(release_id=release.pk, actor=manager)
    client.force_login(support)
    page = text(client.get(f"/briefings/{release.slug}/"))
    assert "briefing-flags" not in page and 'id="flag-lookup"' not in page


def test_release_page__flag_killed_and_flag_off_step__named_on_the_page(client, manager):
    # Given a release whose flag was killed and whose rollback plan turns the flag off
    release = flag_release(manager, slug="named")
    flag = make_flag(key="new-checkout", release=release)
    services.flag_kill(flag_id=flag.pk, actor=manager, reason="Checkout errors")
    RollbackStep.objects.create(
        release=release, title="Flag off", position=0, action="flag_off", action_config={"flag": "new-checkout"}
    )
    client.force_login(manager)
    page = text(client.get(f"/releases/{release.slug}/"))
    # Then the timeline names the flag and the step says what it does
    assert "turned a feature flag off with its kill switch" in page and "“new-checkout”" in page
    assert "automated: turn flag new-checkout off" in page
