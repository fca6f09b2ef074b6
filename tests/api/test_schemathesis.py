"""Schemathesis against the live schema: no 5xx for any generated request, and every response
matches the schema.

The CLI (schemathesis from PyPI) runs as a subprocess against pytest-django's live server on
loopback, with a release manager's token holding every scope, so it reaches every endpoint.
Its writes land in the throwaway test database; outbound calls (webhooks, rollback steps)
are refused so that generated URLs are never called.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollouts import http
from tests.api.conftest import SUMMARY, make_token
from tests.factories import (
    AudienceFactory,
    MessageFactory,
    NoticeFactory,
    RollbackStepFactory,
    StakeholderFactory,
    WebhookDeliveryFactory,
    release_with_phases,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
MAX_SECONDS = int(os.environ.get("SCHEMATHESIS_MAX_SECONDS", "120"))


def seed(manager, approver):
    """Something behind every id schemathesis might try first (ids 1, 2, …)."""
    from rollouts import transitions

    for i in range(3):
        release = release_with_phases(owner=manager, slug=f"st-{i}")
        RollbackStepFactory(release=release)
        if i:
            transitions.release_start(release_id=release.pk, actor=manager)
        if i == 2:
            transitions.release_rollback(release_id=release.pk, actor=manager, reason="seed")
        audience = AudienceFactory()
        StakeholderFactory(audiences=[audience])
        NoticeFactory(message=MessageFactory(plan__release=release, audiences=[audience]))
        WebhookDeliveryFactory()


def refuse_outbound(*args, **kwargs):
    raise http.TargetRefused("Tests make no outbound calls.")


def test_schemathesis__live_schema__no_server_errors_and_responses_match(
    live_server, manager, approver, monkeypatch, record_property
):
    from rest_framework.throttling import UserRateThrottle

    seed(manager, approver)
    token = make_token(manager)
    monkeypatch.setattr(http, "check_target", refuse_outbound)
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "100000/minute"})
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{live_server.url}/api/v1/schema/",
        "--url",
        live_server.url,
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--workers",
        "1",
        "--seed",
        "20261126",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--suppress-health-check",
        "all",
    ]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=MAX_SECONDS + 120, check=False)
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    cases = generated_cases(output)
    record_property("schemathesis_cases", cases)
    record_property("schemathesis_seconds", round(seconds, 1))
    figure = f"schemathesis: {cases} generated test cases in {seconds:.0f} s (exit {result.returncode})"
    SUMMARY.append(figure)
    print("\n" + figure)
    print(output[-6000:])
    assert result.returncode == 0, output[-6000:]
    assert cases and cases > 0


def generated_cases(output: str) -> int | None:
    """The number of generated test cases from the run's summary."""
    match = re.search(r"(\d[\d,]*)\s+generated", output) or re.search(r"Test cases:\s*(\d[\d,]*)", output)
    return int(match.group(1).replace(",", "")) if match else None
