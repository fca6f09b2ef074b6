"""Prometheus metrics at /metrics, counted from the database at scrape time.

Transitions and sends happen in many web and worker processes on many machines; counters
kept in process memory would each see a slice and reset on every restart. So the business
metrics are read from the rows those processes leave (ops/selectors.py, one query per
family) every time Prometheus scrapes, and any web process gives the same answer. The
process's own metrics (CPU, memory, GC, Python) come from prometheus-client's collectors.
"""

import math

from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from ops import broker, checks, selectors
from rollouts.models import Heartbeat

# Notice statuses that only ever grow (a counter); pending and sending come and go.
NOTICE_FINAL = ("sent", "failed", "cancelled")
NOTICE_WAITING = ("pending", "sending")


class FlightdeckCollector:
    """Reads the database on every collect(); no describe(), so registering it reads nothing."""

    def collect(self):
        now = timezone.now()

        transitions = CounterMetricFamily(
            "flightdeck_transitions", "Release state changes recorded, by event verb.", labels=["verb"]
        )
        for verb, n in selectors.transition_counts().items():
            transitions.add_metric([verb], n)
        yield transitions

        verdicts = CounterMetricFamily(
            "flightdeck_gate_verdicts",
            "Gate verdicts recorded, by gate kind and verdict (a rejected manual gate counts as failed).",
            labels=["kind", "verdict"],
        )
        for (kind, verdict), n in sorted(selectors.gate_verdict_counts().items()):
            verdicts.add_metric([kind, verdict], n)
        yield verdicts

        statuses = selectors.notice_status_counts()
        notices = CounterMetricFamily(
            "flightdeck_notices", "Notices that reached a final status (sent, failed, cancelled).", labels=["status"]
        )
        waiting = GaugeMetricFamily(
            "flightdeck_notices_waiting", "Notices not yet sent (pending, sending), due or not.", labels=["status"]
        )
        for status, n in statuses.items():
            (notices if status in NOTICE_FINAL else waiting).add_metric([status], n)
        yield notices
        yield waiting

        due = selectors.notices_due(now=now)
        yield GaugeMetricFamily("flightdeck_notices_due", "Notices due now or earlier and not sent yet.", value=due.due)
        yield GaugeMetricFamily(
            "flightdeck_notices_overdue", "Notices due more than a minute ago and not sent yet.", value=due.overdue
        )

        beats = selectors.heartbeats()
        for kind, name, what in (
            (Heartbeat.Kind.ENGINE, "flightdeck_engine_last_tick_age_seconds", "the rollout engine"),
            (Heartbeat.Kind.OUTBOX, "flightdeck_outbox_last_tick_age_seconds", "the notice outbox"),
        ):
            age = checks.tick_age(beats.get(kind), now)
            yield GaugeMetricFamily(
                name,
                f"Seconds since {what} last finished a tick (+Inf: never).",
                value=math.inf if age is None else age,
            )

        waiting_phases = selectors.phases_waiting(now=now)
        yield GaugeMetricFamily(
            "flightdeck_engine_lag_seconds",
            "How long the oldest due work has waited: the oldest due notice, or an auto-advancing phase whose "
            "soak ended with its required gates cleared and no freeze or allowed-hours rule holding it. 0 when none.",
            value=selectors.engine_lag_seconds(now=now, notices=due, waiting=waiting_phases),
        )
        yield GaugeMetricFamily(
            "flightdeck_phases_waiting",
            "Auto-advancing phases ready to advance that the engine has not moved on.",
            value=len(waiting_phases),
        )

        deliveries = GaugeMetricFamily(
            "flightdeck_webhook_deliveries_failing",
            "Webhook deliveries being retried after a failed attempt, and those given up on in the last 24 hours.",
            labels=["state"],
        )
        for state, n in selectors.failing_deliveries(now=now).items():
            deliveries.add_metric([state], n)
        yield deliveries

        depth = broker.queue_depth()
        if depth is not None:  # absent when the broker does not answer (alert on absent())
            queue = GaugeMetricFamily(
                "flightdeck_queue_depth", "Celery tasks waiting in the broker queue.", labels=["queue"]
            )
            queue.add_metric([broker.queue_name()], depth)
            yield queue


def build_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(FlightdeckCollector())
    return registry


REGISTRY = build_registry()
