"""Planning a release in the browser: every form, its bad inputs, and what is kept."""

import pytest

from rollouts import transitions
from rollouts.models import ChecklistItem, Event, Gate, GateKind, Phase, Release, RollbackStep, Strategy
from tests.factories import RollbackStepFactory, release_with_phases

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


def release_form(owner, **overrides):
    data = {
        "name": "Checkout v3",
        "version": "3.0.0",
        "slug": "",
        "summary": "One-page checkout",
        "owner": owner.pk,
        "strategy": "canary",
        "planned_start": "2026-12-01T09:30",
        "on_gate_failure": "pause",
    }
    data.update(overrides)
    return data


def phase_form(**overrides):
    data = {"name": "Canary 5%", "environment": "production", "exposure_percent": "5", "min_soak_minutes": "15"}
    data.update(overrides)
    return data


# --- release ---------------------------------------------------------------------------


def test_release_create__canary__proposes_four_phases_with_gates(manager_client, manager):
    response = manager_client.post("/releases/new/", release_form(manager))
    release = Release.objects.get()
    assert response.status_code == 303 and response["Location"] == f"/releases/{release.slug}/"
    assert release.slug == "checkout-v3-3-0-0"
    assert list(release.phases.values_list("exposure_percent", flat=True)) == [1, 10, 50, 100]
    assert Gate.objects.filter(phase__release=release).count() == 3
    assert Event.objects.filter(release=release, verb="release.created", actor=manager).exists()


@pytest.mark.parametrize(
    ("strategy", "exposures"),
    [
        ("blue_green", [0, 0, 100, 100]),
        ("rolling", [25, 50, 75, 100]),
        ("shadow", [0, 0, 100]),
        ("feature_flag", [0, 5, 10, 50, 100]),
    ],
)
def test_release_create__each_strategy__its_phase_plan(manager_client, manager, strategy, exposures):
    manager_client.post("/releases/new/", release_form(manager, strategy=strategy))
    release = Release.objects.get()
    assert list(release.phases.values_list("exposure_percent", flat=True)) == exposures


def test_release_create__strategy_changed__htmx_preview_of_plan(manager_client):
    response = manager_client.get("/releases/new/?strategy=blue_green", **HX)
    assert response.status_code == 200
    assert "Switch traffic to green" in text(response)
    assert "<html" not in text(response)


def test_release_create__missing_fields__errors_next_to_fields_and_input_kept(manager_client, manager):
    response = manager_client.post("/releases/new/", release_form(manager, name="", version=""))
    assert response.status_code == 422
    page = text(response)
    assert page.count("This field is required.") == 2
    assert "One-page checkout" in page  # the summary typed is still there
    assert not Release.objects.exists()


def test_release_create__duplicate_slug__clear_message_and_input_kept(manager_client, manager, release):
    response = manager_client.post("/releases/new/", release_form(manager, slug="checkout"))
    assert response.status_code == 422
    assert "A release with this slug exists" in text(response)
    assert 'value="Checkout v3"' in text(response)
    assert Release.objects.count() == 1


def test_release_create__same_name_twice__second_gets_numbered_slug(manager_client, manager):
    manager_client.post("/releases/new/", release_form(manager))
    manager_client.post("/releases/new/", release_form(manager))
    assert sorted(Release.objects.values_list("slug", flat=True)) == ["checkout-v3-3-0-0", "checkout-v3-3-0-0-2"]


def test_release_create__bad_date__message(manager_client, manager):
    response = manager_client.post("/releases/new/", release_form(manager, planned_start="next tuesday"))
    assert response.status_code == 422
    assert "Enter a valid date/time." in text(response)


def test_release_edit__rename_and_duplicate_slug(manager_client, manager, release):
    release_with_phases(owner=manager, slug="taken")
    data = release_form(manager, name="Checkout", version="2.0.1", slug="taken")
    response = manager_client.post("/releases/checkout/edit/", data)
    assert response.status_code == 422
    assert "A release with this slug exists" in text(response)
    data["slug"] = "checkout"
    response = manager_client.post("/releases/checkout/edit/", data)
    assert response.status_code == 303
    release.refresh_from_db()
    assert release.version == "2.0.1"
    assert Event.objects.get(verb="plan.release_edited").data["fields"] == ["version", "summary", "planned_start"]


def test_release_edit__strategy_to_canary_with_decreasing_plan__refused(manager_client, manager):
    release_with_phases(owner=manager, slug="bg", exposures=(100, 0), strategy=Strategy.BLUE_GREEN)
    data = release_form(manager, name="BG", version="1", slug="bg", strategy="canary")
    response = manager_client.post("/releases/bg/edit/", data)
    assert response.status_code == 422
    assert "Exposure cannot go down in a canary release" in text(response)
    assert Release.objects.get(slug="bg").strategy == Strategy.BLUE_GREEN


def test_release_edit__completed_release__403(manager_client, manager, release):
    transitions.release_cancel(release_id=release.pk, actor=manager)
    assert manager_client.get("/releases/checkout/edit/").status_code == 403


# --- phases ----------------------------------------------------------------------------


def test_phase_add__valid__appended_at_the_end_and_body_swapped(manager_client, release):
    response = manager_client.post("/releases/checkout/phases/add/", phase_form(exposure_percent="100"), **HX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#release-body"
    assert "Phase added." in text(response)
    assert list(release.phases.values_list("name", flat=True))[-1] == "Canary 5%"


@pytest.mark.parametrize("exposure", ["150", "-1", "101"])
def test_phase_add__exposure_out_of_range__message_next_to_field_and_typing_kept(manager_client, release, exposure):
    response = manager_client.post("/releases/checkout/phases/add/", phase_form(exposure_percent=exposure), **HX)
    assert response.status_code == 422
    page = text(response)
    assert "Exposure must be between 0 and 100%." in page
    assert 'value="Canary 5%"' in page and f'value="{exposure}"' in page and 'value="15"' in page
    assert release.phases.count() == 3


def test_phase_add__canary_exposure_goes_down__refused_naming_the_phases(manager_client, release):
    response = manager_client.post("/releases/checkout/phases/add/", phase_form(exposure_percent="5"), **HX)
    assert response.status_code == 422
    assert "Exposure cannot go down in a canary release: “Canary 5%” at 5% comes after “Phase 3” at 100%." in text(
        response
    )
    assert release.phases.count() == 3


def test_phase_add__shadow_release__exposure_may_go_down(manager_client, manager):
    release_with_phases(owner=manager, slug="shadow", exposures=(100,), strategy=Strategy.SHADOW)
    response = manager_client.post("/releases/shadow/phases/add/", phase_form(exposure_percent="0"), **HX)
    assert response.status_code == 200


def test_phase_add__finished_release__refused_with_message(manager_client, manager, release):
    transitions.release_cancel(release_id=release.pk, actor=manager)
    response = manager_client.post("/releases/checkout/phases/add/", phase_form(exposure_percent="100"), **HX)
    assert response.status_code == 403
    assert release.phases.count() == 3


def test_phase_add__release_finished_while_form_open__message_and_input_kept(manager_client, manager, release):
    # The page was loaded while the release was a draft; someone cancels it; then the form is sent.
    from rollouts import services

    form = manager_client.get("/releases/checkout/phases/add/", **HX)
    assert form.status_code == 200
    transitions.release_cancel(release_id=release.pk, actor=manager)
    with pytest.raises(Exception, match="cannot add a phase to a release that is cancelled"):
        services.phase_add(
            release_id=release.pk,
            actor=manager,
            **{
                "name": "x",
                "environment": "production",
                "exposure_percent": 100,
                "min_soak_minutes": 0,
                "planned_start": None,
                "auto_advance": False,
            },
        )


def test_phase_add__no_js__full_page_with_errors(manager_client, release):
    response = manager_client.post("/releases/checkout/phases/add/", phase_form(exposure_percent="150"))
    assert response.status_code == 422
    assert "<html" in text(response) and "Exposure must be between 0 and 100%." in text(response)


def test_phase_edit__pending_phase__saved(manager_client, release):
    phase = release.phases.get(position=1)
    response = manager_client.post(
        f"/releases/checkout/phases/{phase.pk}/edit/",
        phase_form(name="Canary 20%", exposure_percent="20", min_soak_minutes="0"),
        **HX,
    )
    assert response.status_code == 200
    phase.refresh_from_db()
    assert (phase.name, phase.exposure_percent, phase.min_soak_minutes) == ("Canary 20%", 20, 0)


def test_phase_edit__exposure_below_previous__refused_and_unchanged(manager_client, release):
    phase = release.phases.get(position=1)
    response = manager_client.post(
        f"/releases/checkout/phases/{phase.pk}/edit/", phase_form(exposure_percent="0"), **HX
    )
    assert response.status_code == 422
    assert "Exposure cannot go down" in text(response)
    phase.refresh_from_db()
    assert phase.exposure_percent == 10


def test_phase_edit__active_phase__refused(manager_client, manager, release):
    transitions.release_start(release_id=release.pk, actor=manager)
    phase = release.phases.get(position=0)
    response = manager_client.post(
        f"/releases/checkout/phases/{phase.pk}/edit/", phase_form(exposure_percent="1"), **HX
    )
    assert response.status_code == 422
    assert "only pending phases can be edited" in text(response)


def test_phase_move__up_and_down__order_changes(manager_client, manager):
    release_with_phases(owner=manager, slug="bg", exposures=(0, 0, 100), strategy=Strategy.BLUE_GREEN)
    release = Release.objects.get(slug="bg")
    last = release.phases.get(position=2)
    response = manager_client.post(f"/releases/bg/phases/{last.pk}/move/up/", **HX)
    assert response.status_code == 200
    assert list(release.phases.order_by("position").values_list("name", flat=True)) == [
        "Phase 1",
        "Phase 3",
        "Phase 2",
    ]


def test_phase_move__would_make_canary_go_down__409_and_order_kept(manager_client, release):
    last = release.phases.get(position=2)
    response = manager_client.post(f"/releases/checkout/phases/{last.pk}/move/up/", **HX)
    assert response.status_code == 409
    assert "Exposure cannot go down" in text(response)
    assert list(release.phases.order_by("position").values_list("exposure_percent", flat=True)) == [1, 10, 100]


def test_phase_move__first_phase_up__409(manager_client, release):
    first = release.phases.get(position=0)
    response = manager_client.post(f"/releases/checkout/phases/{first.pk}/move/up/", **HX)
    assert response.status_code == 409
    assert "already at that end" in text(response)


def test_phase_remove__pending__removed_and_positions_closed(manager_client, release):
    middle = release.phases.get(position=1)
    response = manager_client.post(f"/releases/checkout/phases/{middle.pk}/remove/", **HX)
    assert response.status_code == 200
    assert list(release.phases.order_by("position").values_list("position", "exposure_percent")) == [(0, 1), (1, 100)]
    assert Event.objects.get(verb="plan.phase_removed").data["name"] == "Phase 2"


def test_phase_remove__active__refused(manager_client, manager, release):
    transitions.release_start(release_id=release.pk, actor=manager)
    first = release.phases.get(position=0)
    response = manager_client.post(f"/releases/checkout/phases/{first.pk}/remove/", **HX)
    assert response.status_code == 409
    assert Phase.objects.filter(pk=first.pk).exists()


# --- gates -----------------------------------------------------------------------------


def test_gate_add__manual_with_two_approvals(manager_client, release):
    phase = release.phases.get(position=0)
    data = {"name": "SRE sign-off", "kind": "manual_approval", "required": "on", "required_approvals": "2"}
    response = manager_client.post(f"/releases/checkout/phases/{phase.pk}/gates/add/", data, **HX)
    assert response.status_code == 200
    gate = phase.gates.get(name="SRE sign-off")
    assert gate.required and gate.required_approvals == 2


def test_gate_add__checklist_without_items__message_and_nothing_created(manager_client, release):
    phase = release.phases.get(position=0)
    data = {"name": "Ready", "kind": "checklist", "required_approvals": "1", "checklist": "  \n "}
    response = manager_client.post(f"/releases/checkout/phases/{phase.pk}/gates/add/", data, **HX)
    assert response.status_code == 422
    assert "A checklist gate needs at least one item" in text(response)
    assert 'value="Ready"' in text(response)
    assert not Gate.objects.filter(name="Ready").exists()


def test_gate_add__checklist__items_in_order(manager_client, release):
    phase = release.phases.get(position=0)
    data = {"name": "Ready", "kind": "checklist", "required_approvals": "1", "checklist": "Docs\nMacros\n\nOn-call"}
    manager_client.post(f"/releases/checkout/phases/{phase.pk}/gates/add/", data, **HX)
    gate = Gate.objects.get(name="Ready")
    assert gate.kind == GateKind.CHECKLIST
    assert list(ChecklistItem.objects.filter(gate=gate).values_list("text", flat=True)) == ["Docs", "Macros", "On-call"]


def test_gate_add__approvals_out_of_range__message(manager_client, release):
    phase = release.phases.get(position=0)
    data = {"name": "X", "kind": "manual_approval", "required_approvals": "0"}
    response = manager_client.post(f"/releases/checkout/phases/{phase.pk}/gates/add/", data, **HX)
    assert response.status_code == 422
    assert "greater than or equal to 1" in text(response)


def test_gate_remove__pending_phase__removed(manager_client, release):
    gate = release.phases.get(position=0).gates.get()
    assert manager_client.post(f"/releases/checkout/gates/{gate.pk}/remove/", **HX).status_code == 200
    assert not Gate.objects.filter(pk=gate.pk).exists()


# --- rollback plan ---------------------------------------------------------------------


def test_rollback_step_add_edit_move_remove(manager_client, release, manager):
    data = {
        "title": "Route traffic back",
        "instructions": "LB → stable",
        "owner": manager.pk,
        "expected_minutes": "3",
        "action": "manual",
    }
    assert manager_client.post("/releases/checkout/rollback-steps/add/", data, **HX).status_code == 200
    data2 = {"title": "Redeploy", "instructions": "", "owner": "", "expected_minutes": "10", "action": "manual"}
    manager_client.post("/releases/checkout/rollback-steps/add/", data2, **HX)
    first, second = RollbackStep.objects.order_by("position")
    assert (first.owner, first.expected_minutes) == (manager, 3)
    manager_client.post(f"/releases/checkout/rollback-steps/{second.pk}/move/up/", **HX)
    assert list(RollbackStep.objects.order_by("position").values_list("title", flat=True)) == [
        "Redeploy",
        "Route traffic back",
    ]
    data2["expected_minutes"] = "12"
    manager_client.post(f"/releases/checkout/rollback-steps/{second.pk}/edit/", data2, **HX)
    second.refresh_from_db()
    assert second.expected_minutes == 12
    manager_client.post(f"/releases/checkout/rollback-steps/{first.pk}/remove/", **HX)
    assert list(RollbackStep.objects.values_list("title", "position")) == [("Redeploy", 0)]


def test_rollback_step_add__missing_title_and_bad_minutes__messages_and_kept(manager_client, release):
    data = {"title": "", "instructions": "Flip the switch", "owner": "", "expected_minutes": "-5", "action": "manual"}
    response = manager_client.post("/releases/checkout/rollback-steps/add/", data, **HX)
    assert response.status_code == 422
    page = text(response)
    assert "This field is required." in page
    assert "greater than or equal to 0" in page
    assert "Flip the switch" in page
    assert not RollbackStep.objects.exists()


def test_rollback_step__support_user__403(client, support, release):
    step = RollbackStepFactory(release=release)
    client.force_login(support)
    assert client.post(f"/releases/checkout/rollback-steps/{step.pk}/remove/").status_code == 403
    assert client.get("/releases/checkout/rollback-steps/add/").status_code == 403
    assert RollbackStep.objects.filter(pk=step.pk).exists()


def test_rollback_step_add__automated_without_url__message_and_nothing_saved(manager_client, release):
    data = {"title": "Flip traffic", "owner": "", "expected_minutes": "1", "action": "webhook", "action_url": ""}
    response = manager_client.post("/releases/checkout/rollback-steps/add/", data, **HX)
    assert response.status_code == 422
    assert "An automated step needs the webhook URL to call." in text(response)
    assert not RollbackStep.objects.exists()


def test_rollback_step_add__automated_webhook__saved_with_url(manager_client, release):
    data = {
        "title": "Flip traffic",
        "owner": "",
        "expected_minutes": "1",
        "action": "webhook",
        "action_url": "https://deploy.example.com/hooks/rollback",
    }
    assert manager_client.post("/releases/checkout/rollback-steps/add/", data, **HX).status_code == 200
    step = RollbackStep.objects.get()
    assert step.action == "webhook"
    assert step.action_config == {"url": "https://deploy.example.com/hooks/rollback", "method": "POST"}


def test_phase_add__empty_post__422_with_required_messages(manager_client, release):
    response = manager_client.post("/releases/checkout/phases/add/", {}, **HX)
    assert response.status_code == 422
    assert "This field is required." in text(response)
    assert release.phases.count() == 3
