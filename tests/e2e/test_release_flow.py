"""A release manager's whole journey in a real browser: plan a canary, trim its plan in place,
run it with an approver signed in elsewhere, and complete it."""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from rollouts.models import PhaseStatus, Release, ReleaseStatus

pytestmark = pytest.mark.browser


def phase_card(page: Page, name: str) -> Locator:
    return page.locator(f'li.phase[data-phase="{name}"]')


def open_phase_form(page: Page, name: str) -> Locator:
    card = phase_card(page, name)
    card.get_by_role("link", name="Edit", exact=True).click()
    form = card.locator("form.plan-form")
    expect(form.get_by_role("heading")).to_have_text(f"Edit phase “{name}”")
    return form


def save_phase(page: Page, form: Locator, name: str) -> None:
    form.get_by_role("button", name="Save phase").click()
    expect(page.locator("#release-body .messages")).to_contain_text(f"Phase “{name}” saved.")
    expect(phase_card(page, name).locator("form.plan-form")).to_have_count(0)


def approve_gate(page: Page, phase: str, gate: str, comment: str) -> None:
    card = phase_card(page, phase)
    card.get_by_label("Approval comment").fill(comment)
    card.locator('[data-action="approve"]').click()
    expect(card.locator(".gate-chip")).to_have_text("Passed")
    expect(card.locator(".decisions")).to_contain_text(f"Priya Approver approved: “{comment}”")
    expect(page.locator("#release-body .messages")).to_contain_text(f"You approved “{gate}”.")


def test_release_manager__plans_and_runs_canary__release_completes(sign_in, manager, approver, page_errors, shoot):
    # Given a release manager signed in
    mgr = sign_in(manager)

    # When she plans a release and flips the strategy, the proposed phases follow it
    mgr.get_by_role("link", name="New release").click()
    expect(mgr.get_by_role("heading", name="Plan a release")).to_be_visible()
    mgr.get_by_role("textbox", name="Name", exact=True).fill("Checkout")
    mgr.get_by_label("Version").fill("3.1.0")
    proposed = mgr.locator("#proposed-plan li")
    mgr.get_by_label("Strategy").select_option(label="Rolling")
    expect(proposed.first).to_contain_text("Batch 1 (25%)")
    mgr.get_by_label("Strategy").select_option(label="Canary")
    expect(proposed).to_have_text(
        [
            "Canary 1% · 1% · soak 30 min · gate “Canary health approved”",
            "Canary 10% · 10% · soak 60 min · gate “Error rate reviewed”",
            "Canary 50% · 50% · soak 60 min · gate “Go for full rollout”",
            "Full rollout 100% · 100%",
        ]
    )
    mgr.get_by_role("button", name="Create release").click()

    # Then the release page shows the draft with the four proposed phases
    expect(mgr).to_have_url(re.compile(r"/releases/[\w-]+/$"))
    release_url = mgr.url
    expect(mgr.locator("#release-status")).to_have_text("Draft")
    expect(mgr.locator("#release-body .messages")).to_contain_text("Release “Checkout 3.1.0” planned.")
    expect(mgr.locator("li.phase .phase-name")).to_have_text(
        ["1. Canary 1%", "2. Canary 10%", "3. Canary 50%", "4. Full rollout 100%"]
    )

    # When she removes the 50% phase (confirming the prompt)
    prompts = []

    def accept(dialog):
        prompts.append(dialog.message)
        dialog.accept()

    mgr.once("dialog", accept)
    phase_card(mgr, "Canary 50%").get_by_role("button", name="Remove", exact=True).click()

    # Then the plan has three phases
    expect(mgr.locator("#release-body .messages")).to_contain_text("Phase “Canary 50%” removed.")
    expect(mgr.locator("li.phase .phase-name")).to_have_text(["1. Canary 1%", "2. Canary 10%", "3. Full rollout 100%"])
    assert prompts == ["Remove phase “Canary 50%”?"]

    # When she saves a phase with an exposure over 100%
    form = open_phase_form(mgr, "Canary 1%")
    form.get_by_label("Exposure %").fill("150")
    form.get_by_label("Minimum soak (minutes)").fill("0")
    form.get_by_role("button", name="Save phase").click()

    # Then the error sits next to the field and what she typed is still there
    exposure_field = form.locator(".field", has=mgr.locator("#id_exposure_percent"))
    expect(exposure_field).to_have_class(re.compile(r"\bhas-error\b"))
    expect(exposure_field.locator(".error")).to_have_text("Exposure must be between 0 and 100%.")
    expect(form.get_by_label("Exposure %")).to_have_value("150")
    expect(form.get_by_label("Minimum soak (minutes)")).to_have_value("0")
    expect(form.get_by_role("textbox", name="Name", exact=True)).to_have_value("Canary 1%")
    expect(form.locator(".error")).to_have_count(1)

    # When she corrects it, and drops the soak of the other canary phase too
    form.get_by_label("Exposure %").fill("1")
    save_phase(mgr, form, "Canary 1%")
    form = open_phase_form(mgr, "Canary 10%")
    expect(form.get_by_label("Minimum soak (minutes)")).to_have_value("60")
    form.get_by_label("Minimum soak (minutes)").fill("0")
    save_phase(mgr, form, "Canary 10%")

    # Then every phase soaks for 0 minutes
    expect(mgr.locator("li.phase .phase-head .meta")).to_have_text(
        [
            "Production · 1% exposure · soak 0 min",
            "Production · 10% exposure · soak 0 min",
            "Production · 100% exposure · soak 0 min",
        ]
    )

    # When she starts the release
    mgr.locator('[data-action="start"]').click()

    # Then the first phase is active and waits for its approval
    expect(mgr.locator("#release-status")).to_have_text("In progress")
    first = phase_card(mgr, "Canary 1%")
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))
    expect(first.locator(".blockers")).to_have_text("Waiting for required gate: Canary health approved")
    expect(first.locator('[data-action="advance"]')).to_be_disabled()
    expect(mgr.locator('[data-action="approve"]')).to_have_count(0)  # owners never approve their own release

    # When an approver, signed in on another browser, approves each gate and the manager advances
    apr = sign_in(approver)
    for phase, gate, nxt in (
        ("Canary 1%", "Canary health approved", "Canary 10%"),
        ("Canary 10%", "Error rate reviewed", "Full rollout 100%"),
    ):
        apr.goto(release_url)
        expect(apr.locator("#release-status")).to_have_text("In progress")
        expect(apr.locator("#actions")).to_have_count(0)  # approvers decide gates, they do not run releases
        approve_gate(apr, phase, gate, comment=f"{phase} looks healthy")

        mgr.reload()
        card = phase_card(mgr, phase)
        expect(card.locator(".gate-chip")).to_have_text("Passed")
        expect(card.locator(".blockers")).to_have_count(0)
        card.locator('[data-action="advance"]').click()

        expect(mgr.locator("#release-body .messages")).to_contain_text(f"Advanced: “{nxt}” is now active at")
        expect(phase_card(mgr, phase).locator(".badge")).to_have_text("Passed")
        expect(phase_card(mgr, nxt).locator(".badge")).to_have_text("Active")

    # When the last phase (no gates) is active, she completes the release
    last = phase_card(mgr, "Full rollout 100%")
    expect(last.locator('[data-action="advance"]')).to_have_count(0)
    last.locator('[data-action="complete"]').click()

    # Then the page says so
    expect(mgr.locator("#release-status")).to_have_text("Completed")
    expect(mgr.locator("#release-body .messages")).to_contain_text("Release completed.")
    expect(mgr.locator("#exposure")).to_have_text("100% of phases done · exposure 100%")
    expect(mgr.locator("li.phase .phase-head .badge")).to_have_text(["Passed", "Passed", "Passed"])
    expect(mgr.locator("#actions")).to_have_count(0)
    # The timeline lists newest first.
    expect(mgr.locator("#timeline li.event")).to_contain_text(
        [
            "Maria Manager completed the release",
            "Maria Manager advanced the release from “Canary 10%” to “Full rollout 100%” (100%)",
            "Priya Approver cleared the gate “Error rate reviewed”",
            "Priya Approver approved “Error rate reviewed” (1/1 approvals) Canary 10% looks healthy",
            "Maria Manager advanced the release from “Canary 1%” to “Canary 10%” (10%)",
            "Priya Approver cleared the gate “Canary health approved”",
            "Priya Approver approved “Canary health approved” (1/1 approvals) Canary 1% looks healthy",
            "Maria Manager started the release “Canary 1%” at 1%",
            "Maria Manager edited a phase “Canary 10%”",
            "Maria Manager edited a phase “Canary 1%”",
            "Maria Manager removed a phase “Canary 50%”",
            "Maria Manager planned the release",
        ]
    )
    shoot(mgr, "release-completed")

    # And the database agrees
    release = Release.objects.get(name="Checkout", version="3.1.0")
    assert release_url.endswith(release.get_absolute_url())
    assert release.status == ReleaseStatus.COMPLETED
    assert release.finished_at is not None
    assert [(p.name, p.status, p.min_soak_minutes) for p in release.phases.order_by("position")] == [
        ("Canary 1%", PhaseStatus.PASSED, 0),
        ("Canary 10%", PhaseStatus.PASSED, 0),
        ("Full rollout 100%", PhaseStatus.PASSED, 0),
    ]
    # Two phase edits only: the refused save wrote nothing.
    events = list(release.events.order_by("created_at", "id").values_list("verb", "actor__username"))
    assert events == [
        ("release.created", "manager"),
        ("plan.phase_removed", "manager"),
        ("plan.phase_edited", "manager"),
        ("plan.phase_edited", "manager"),
        ("release.started", "manager"),
        ("gate.approved", "approver"),
        ("gate.passed", "approver"),
        ("phase.advanced", "manager"),
        ("gate.approved", "approver"),
        ("gate.passed", "approver"),
        ("phase.advanced", "manager"),
        ("release.completed", "manager"),
    ]
    for page in (mgr, apr):
        expect(page.locator("#flash")).to_be_hidden()
    assert page_errors == []
