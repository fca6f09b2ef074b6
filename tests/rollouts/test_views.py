"""Pages: who may see and do what, and what a person sees after each action."""

import pytest
from django.urls import reverse

from rollouts import transitions
from rollouts.models import Event, GateStatus, Phase, Release, ReleaseStatus, RollbackRun
from tests.factories import RollbackStepFactory, release_with_phases

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "release-body"}


def text(response) -> str:
    return response.content.decode()


def start(release, actor):
    transitions.release_start(release_id=release.pk, actor=actor)
    release.refresh_from_db()
    return release


# --- sign-in and roles ----------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/releases/", "/releases/new/", "/releases/checkout/"])
def test_pages__anonymous__redirected_to_login(client, release, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/", "/releases/", "/releases/checkout/"])
def test_pages__signed_in_without_role__403_with_explanation(client, outsider, release, url):
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 403
    assert "no Flightdeck role" in text(response)


@pytest.mark.parametrize("who", ["manager", "approver", "support", "viewer"])
def test_release_page__any_role__readable(client, release, who, request):
    client.force_login(request.getfixturevalue(who))
    response = client.get("/releases/checkout/")
    assert response.status_code == 200
    assert "Checkout" in text(response)


def test_release_page__unknown_slug__404(manager_client):
    assert manager_client.get("/releases/nope/").status_code == 404


def test_login__wrong_password__message_and_username_kept(client, manager):
    response = client.post("/accounts/login/", {"username": "manager", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in text(response)
    assert 'value="manager"' in text(response)


def test_login__right_password__lands_on_dashboard(client, manager, password):
    response = client.post("/accounts/login/", {"username": "manager", "password": password}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "Releases" in text(response)


@pytest.mark.parametrize("who", ["support", "viewer", "approver"])
def test_release_actions__non_manager__403_and_nothing_changes(client, release, who, request):
    client.force_login(request.getfixturevalue(who))
    for action in ["start", "schedule", "cancel"]:
        response = client.post(f"/releases/checkout/actions/{action}/")
        assert response.status_code == 403
    phase = release.phases.first()
    assert client.post(f"/releases/checkout/phases/{phase.pk}/advance/").status_code == 403
    assert client.post(f"/releases/checkout/phases/{phase.pk}/remove/").status_code == 403
    assert client.get("/releases/new/").status_code == 403
    release.refresh_from_db()
    assert release.status == ReleaseStatus.DRAFT
    assert release.phases.count() == 3


@pytest.mark.parametrize("who", ["support", "viewer", "manager"])
def test_gate_approve__not_an_approver__403(client, release, manager, who, request):
    start(release, manager)
    client.force_login(request.getfixturevalue(who))
    gate = release.current_phase.gates.get()
    response = client.post(f"/releases/checkout/gates/{gate.pk}/approve/")
    assert response.status_code == 403
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING


def test_release_page__support_reader__sees_no_action_buttons(client, release, manager, support):
    start(release, manager)
    client.force_login(support)
    page = text(client.get("/releases/checkout/"))
    assert 'data-action="advance"' not in page
    assert 'data-action="approve"' not in page
    assert "Roll back" not in page
    assert "+ Add phase" not in page


def test_release_page__manager__sees_actions_and_plan_tools(manager_client, release):
    page = text(manager_client.get("/releases/checkout/"))
    assert 'data-action="start"' in page
    assert "+ Add phase" in page
    assert "+ Add rollback step" in page


def test_release_page__approver_who_owns_release__told_someone_else_must_decide(client, release, approver, manager):
    Release.objects.filter(pk=release.pk).update(owner=approver)
    start(release, manager)
    client.force_login(approver)
    page = text(client.get("/releases/checkout/"))
    assert "another approver must decide" in page
    assert 'data-action="approve"' not in page


# --- running a release through the pages ----------------------------------------------


def test_start_button__htmx__body_swapped_with_first_phase_active(manager_client, release):
    response = manager_client.post("/releases/checkout/actions/start/", **HX)
    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith('<div id="release-body"')
    assert "Release started" in body
    assert 'id="release-status">In progress' in body
    assert "HX-Request" in response["Vary"]


def test_start_button__no_js__redirect_then_message(manager_client, release):
    response = manager_client.post("/releases/checkout/actions/start/", follow=True)
    assert response.redirect_chain == [("/releases/checkout/", 303)]
    assert "Release started" in text(response)


def test_advance_button__gate_pending__409_with_reason_and_no_change(manager_client, release, manager):
    start(release, manager)
    response = manager_client.post(f"/releases/checkout/phases/{release.current_phase_id}/advance/", **HX)
    assert response.status_code == 409
    assert "Waiting for required gate: Gate 1.1" in text(response)
    release.refresh_from_db()
    assert release.current_phase.position == 0


def test_advance_button__pressed_twice__second_says_already_advanced(manager_client, release, manager, approver):
    start(release, manager)
    transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
    url = f"/releases/checkout/phases/{release.current_phase_id}/advance/"
    assert manager_client.post(url, **HX).status_code == 200
    second = manager_client.post(url, **HX)
    assert second.status_code == 409
    assert "was already advanced" in text(second)
    assert Event.objects.filter(verb="phase.advanced").count() == 1


def test_approve_button__approver__gate_passes_and_timeline_shows_it(approver_client, release, manager):
    start(release, manager)
    gate = release.current_phase.gates.get()
    response = approver_client.post(f"/releases/checkout/gates/{gate.pk}/approve/", {"comment": "LGTM"}, **HX)
    assert response.status_code == 200
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED
    assert "You approved" in text(response)
    assert "LGTM" in text(response)


def test_approve_button__own_release__403_with_message(client, release, approver, manager):
    Release.objects.filter(pk=release.pk).update(owner=approver)
    start(release, manager)
    client.force_login(approver)
    gate = release.current_phase.gates.get()
    response = client.post(f"/releases/checkout/gates/{gate.pk}/approve/", **HX)
    assert response.status_code == 403
    assert "You own this release" in text(response)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING


def test_reject_button__without_reason__409_and_gate_stays_pending(approver_client, release, manager):
    start(release, manager)
    gate = release.current_phase.gates.get()
    response = approver_client.post(f"/releases/checkout/gates/{gate.pk}/reject/", {"comment": ""}, **HX)
    assert response.status_code == 409
    assert "Say why you reject" in text(response)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING


def test_rollback_flow__through_pages__progress_then_rolled_back(manager_client, release, manager):
    RollbackStepFactory(release=release, title="Route traffic back", position=0)
    RollbackStepFactory(release=release, title="Redeploy 1.9", position=1)
    start(release, manager)
    response = manager_client.post("/releases/checkout/actions/rollback/", {"reason": "5xx up"}, **HX)
    assert response.status_code == 200
    assert "Rollback in progress" in text(response)
    assert 'aria-valuenow="0"' in text(response)
    run = RollbackRun.objects.get()
    first, second = run.steps.order_by("position")
    response = manager_client.post(f"/releases/checkout/rollback-run/steps/{first.pk}/done/", {"note": "ok"}, **HX)
    assert "1 of 2 steps done" in text(response)
    assert 'aria-valuenow="50"' in text(response)
    response = manager_client.post(f"/releases/checkout/rollback-run/steps/{second.pk}/done/", **HX)
    assert "Rollback finished" in text(response)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLED_BACK


def test_rollback_button__without_reason__409_and_release_keeps_running(manager_client, release, manager):
    start(release, manager)
    response = manager_client.post("/releases/checkout/actions/rollback/", {"reason": ""}, **HX)
    assert response.status_code == 409
    assert "Say why you are rolling back" in text(response)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.IN_PROGRESS


def test_release_action__unknown_action__404(manager_client, release):
    assert manager_client.post("/releases/checkout/actions/explode/").status_code == 404


def test_release_action__get__405(manager_client, release):
    assert manager_client.get("/releases/checkout/actions/start/").status_code == 405


def test_checklist_tick__approver__item_ticked(approver_client, release, manager):
    from tests.factories import ChecklistItemFactory, GateFactory

    start(release, manager)
    gate = GateFactory(phase=release.current_phase, kind="checklist", name="Ready")
    item = ChecklistItemFactory(gate=gate, text="Docs live")
    response = approver_client.post(f"/releases/checkout/checklist/{item.pk}/", {"checked": "1"}, **HX)
    assert response.status_code == 200
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED


def test_checklist_tick__support__403(client, support, release, manager):
    from tests.factories import ChecklistItemFactory, GateFactory

    start(release, manager)
    gate = GateFactory(phase=release.current_phase, kind="checklist")
    item = ChecklistItemFactory(gate=gate)
    client.force_login(support)
    assert client.post(f"/releases/checkout/checklist/{item.pk}/", {"checked": "1"}).status_code == 403


def test_gate_of_other_release__404(manager_client, release, manager):
    other = release_with_phases(owner=manager, slug="other")
    gate = other.phases.first().gates.first()
    assert manager_client.post(f"/releases/checkout/gates/{gate.pk}/remove/").status_code == 404


def test_dashboard__groups_by_state_with_progress_and_next_gate(manager_client, release, manager):
    start(release, manager)
    release_with_phases(owner=manager, slug="draft-one", name="Draft one")
    page = text(manager_client.get("/"))
    assert 'id="group-in_progress"' in page and 'id="group-draft"' in page
    assert page.index('id="group-in_progress"') < page.index('id="group-draft"')
    assert "Next gate: Gate 1.1" in page
    assert "0/3 phases · 1% exposure" in page


def test_dashboard__more_than_limit__show_all_link(manager_client, manager, settings):
    settings.DASHBOARD_GROUP_LIMIT = 2
    for i in range(3):
        release_with_phases(owner=manager, slug=f"r{i}", name=f"Release {i}")
    page = text(manager_client.get("/"))
    assert page.count('<li class="release-row ') == 2
    assert "Show all 3 draft releases" in page


def test_release_list__filter_and_search(manager_client, manager):
    release_with_phases(owner=manager, slug="alpha", name="Alpha")
    beta = release_with_phases(owner=manager, slug="beta", name="Beta")
    transitions.release_start(release_id=beta.pk, actor=manager)
    page = text(manager_client.get("/releases/?status=in_progress"))
    assert "Beta" in page and "Alpha" not in page
    page = text(manager_client.get("/releases/?q=alp"))
    assert "Alpha" in page and "Beta" not in page
    assert manager_client.get("/releases/?status=bogus").status_code == 200


def test_admin__every_model_registered(admin_client):
    from django.apps import apps
    from django.contrib import admin

    for model in apps.get_app_config("rollouts").get_models():
        assert admin.site.is_registered(model), model
        url = reverse(f"admin:rollouts_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200


def test_healthz__ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


def test_phase_status__never_changed_by_admin_form(admin_client, release):
    phase = release.phases.first()
    url = reverse("admin:rollouts_phase_change", args=[phase.pk])
    assert "status" not in admin_client.get(url).context["adminform"].form.fields
    assert Phase.objects.get(pk=phase.pk).status == "pending"


def test_release_page_poll__nothing_changed__204_in_four_queries(manager_client, release, django_assert_num_queries):
    version = release.updated_at.isoformat()
    with django_assert_num_queries(4):  # session, user, roles, release version
        response = manager_client.get("/releases/checkout/", {"since": version}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204


def test_release_page_poll__someone_acted__fresh_body(manager_client, release, manager, approver):
    version = release.updated_at.isoformat()
    start(release, manager)
    transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
    response = manager_client.get("/releases/checkout/", {"since": version}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Priya Approver approved" in text(response)


def test_release_page_poll__rollback_step_ticked__version_moves(release, manager):
    from rollouts.selectors import release_version

    RollbackStepFactory(release=release)
    RollbackStepFactory(release=release)
    start(release, manager)
    run = transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
    before = release_version("checkout")
    transitions.rollback_step_done(run_step_id=run.steps.first().pk, actor=manager)
    assert release_version("checkout") != before


def test_release_page__rolling_back__no_plan_editing(manager_client, release, manager):
    RollbackStepFactory(release=release)
    start(release, manager)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
    page = text(manager_client.get("/releases/checkout/"))
    assert "+ Add phase" not in page and "Edit details" not in page
    assert manager_client.get("/releases/checkout/phases/add/").status_code == 403
