import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from comms.models import Audience, Membership, Stakeholder, Message
from rollouts.models import Gate

pytestmark = [pytest.mark.browser]


def test_tmp(sign_in, manager, release, page_errors):
    aud = Audience.objects.create(name="Customers")
    Membership.objects.create(stakeholder=Stakeholder.objects.create(email="ana@example.com", name="Ana"), audience=aud)
    page = sign_in(manager)
    page.goto(f"/releases/{release.slug}/")
    plan = page.locator("#comms-plan")
    expect(plan).to_contain_text("No messages yet")
    plan.get_by_role("link", name="+ Add message").click()
    form = plan.locator("form.message-form")
    form.get_by_label("Name").fill("Heads-up")
    form.get_by_label("Customers").check()
    form.get_by_label("Subject").fill("{{ release.name }} {{ nope }}")
    form.get_by_label("Body").fill("Hi {{ recipient.name }}, **{{ phase.name }}**")
    when = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form.get_by_label("Send at").fill(when)
    form.get_by_role("button", name="Save message").click()
    expect(form.locator("#id_subject_error")).to_contain_text("{{ nope }}")
    expect(form.get_by_label("Name")).to_have_value("Heads-up")
    form = plan.locator("form.message-form")
    form.get_by_label("Subject").fill("{{ release.name }} {{ release.version }} soon")
    form.get_by_role("button", name="Preview").click()
    expect(form.locator(".message-preview")).to_contain_text("Checkout 2.0.0 soon")
    expect(form.locator("iframe.preview-html")).to_have_count(1)
    page.screenshot(path="/tmp/comms-preview.png", full_page=True)
    form.get_by_role("button", name="Save message").click()
    expect(plan.locator(".messages")).to_contain_text("Message “Heads-up” saved.")
    expect(plan.locator("li.comms-message")).to_have_count(1)
    expect(plan.locator(".comms-timeline")).to_contain_text("Heads-up")
    # edit
    plan.get_by_role("link", name="Edit").click()
    form = plan.locator("form.message-form")
    form.get_by_label("Name").fill("Heads-up 2")
    form.get_by_role("button", name="Save message").click()
    expect(plan.locator(".messages")).to_contain_text("Message “Heads-up 2” saved.")
    # require
    plan.locator("summary", has_text="Require before phase").click()
    plan.get_by_label(re.compile("Phase that waits")).select_option(label="Phase 2 (10%)")
    plan.get_by_role("button", name="Add the gate").click()
    expect(plan.locator(".messages")).to_contain_text("now waits")
    expect(plan).to_contain_text("Phase “Phase 2” waits for it")
    # delete refused
    page.once("dialog", lambda d: d.accept())
    plan.get_by_role("button", name="Remove").click()
    expect(plan.locator(".messages")).to_contain_text("Remove that gate first")
    # saved preview in slot
    plan.get_by_role("link", name="Preview").click()
    expect(plan.locator(".message-preview")).to_contain_text("Checkout 2.0.0 soon")
    page.screenshot(path="/tmp/comms-plan.png", full_page=True)
    assert Message.objects.count() == 1 and Gate.objects.filter(kind="comms_ready").count() == 1
    page.goto("/comms/outbox/")
    expect(page.get_by_role("heading", name="Outbox")).to_be_visible()
    page.screenshot(path="/tmp/comms-outbox.png", full_page=True)
    assert page_errors == []
