"""Pure readiness rules shared by transitions, selectors and templates."""

from django.utils import timezone

from rollouts.models import GATE_CLEARED, Phase


def phase_blockers(phase: Phase, gates=None, now=None) -> list[str]:
    """Why this phase may not advance yet; empty when it may.

    `gates` lets a caller pass already-fetched gates (pages prefetch them).
    """
    now = now or timezone.now()
    gates = list(phase.gates.all()) if gates is None else gates
    blockers = []
    waiting = [g.name for g in gates if g.required and g.status not in GATE_CLEARED]
    if waiting:
        blockers.append("Waiting for required gate" + ("s" if len(waiting) > 1 else "") + ": " + ", ".join(waiting))
    remaining = phase.soak_remaining(now)
    if remaining.total_seconds() > 0:
        minutes = int(remaining.total_seconds() // 60)
        seconds = int(remaining.total_seconds() % 60)
        label = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
        blockers.append(f"Soak time not over: {label} left")
    return blockers
