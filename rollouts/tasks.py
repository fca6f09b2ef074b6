"""Celery tasks: thin wrappers that take ids and call one engine or service function.

Every task is idempotent: claims, leases and compare-and-set updates make a second
delivery a no-op. Retries are finite and short (due work waits in the database, not in
the broker), and only for errors that a retry can fix.
"""

import time

from celery import shared_task
from django.db import InterfaceError, OperationalError

from rollouts import engine, heartbeat, webhooks
from rollouts.models import Heartbeat

TRANSIENT = (OperationalError, InterfaceError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 1,
    "retry_backoff_max": 8,  # never an ETA longer than 10 s
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def engine_tick() -> dict:
    started = time.monotonic()
    report = engine.tick()
    # After the work: a tick that keeps failing leaves the heartbeat old, and /readyz says so.
    heartbeat.beat(Heartbeat.Kind.ENGINE, took_ms=(time.monotonic() - started) * 1000)
    return {
        "gates": len(report.gates_claimed),
        "advanced": report.advanced,
        "completed": report.completed,
        "degraded": report.degraded,
        "deliveries": len(report.deliveries),
        "rollback_runs": report.rollback_runs,
    }


@shared_task(ignore_result=True, **RETRY)
def evaluate_gate(gate_id: int, claim_token: str) -> str:
    return engine.evaluate_gate(gate_id, claim_token)


@shared_task(ignore_result=True, **RETRY)
def deliver_webhook(delivery_id: int) -> str:
    return webhooks.deliver(delivery_id)


@shared_task(ignore_result=True, **RETRY)
def run_rollback_automation(run_id: int) -> str:
    return engine.run_rollback_step(run_id)
