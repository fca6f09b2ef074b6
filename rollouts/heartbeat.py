"""Each periodic tick says that it ran: one upserted row per kind (rollouts.models.Heartbeat).

One statement per tick (INSERT … ON CONFLICT DO UPDATE), so it costs next to nothing every
2 s. Two beats running at once only write the same row twice; nothing depends on the
count of beats, only on how long ago the last one was.
"""

from datetime import datetime

from django.utils import timezone

from rollouts.models import Heartbeat


def beat(kind: str, *, took_ms: int = 0, now: datetime | None = None) -> None:
    Heartbeat.objects.bulk_create(
        [Heartbeat(kind=kind, beat_at=now or timezone.now(), took_ms=max(int(took_ms), 0))],
        update_conflicts=True,
        unique_fields=["kind"],
        update_fields=["beat_at", "took_ms"],
    )
