"""Each periodic tick leaves its heartbeat: one row per kind, one statement per tick."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from comms import tasks as comms_tasks
from rollouts import heartbeat, tasks
from rollouts.models import Heartbeat

pytestmark = pytest.mark.django_db


def test_beat__one_statement__upserts_one_row_per_kind(django_assert_num_queries):
    with django_assert_num_queries(1):
        heartbeat.beat(Heartbeat.Kind.ENGINE, took_ms=12)
    with django_assert_num_queries(1):
        heartbeat.beat(Heartbeat.Kind.ENGINE, took_ms=7)
    [row] = Heartbeat.objects.all()
    assert (row.kind, row.took_ms) == ("engine", 7)


def test_ticks__two_beats_in_a_row__one_row_each_with_the_latest_time():
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        # Given two beats each starting the engine and outbox ticks, two seconds apart
        tasks.engine_tick()
        comms_tasks.outbox_tick()
        traveller.shift(timedelta(seconds=2))
        tasks.engine_tick()
        comms_tasks.outbox_tick()
    # Then one row per kind, holding the later run
    beats = {hb.kind: hb.beat_at for hb in Heartbeat.objects.all()}
    assert beats == {"engine": start + timedelta(seconds=2), "outbox": start + timedelta(seconds=2)}
