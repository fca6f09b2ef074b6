"""The phase plan each strategy proposes; the release manager edits it afterwards."""

from dataclasses import dataclass

from rollouts.models import Environment, Strategy


@dataclass(frozen=True)
class ProposedPhase:
    name: str
    exposure_percent: int
    environment: str = Environment.PRODUCTION
    min_soak_minutes: int = 0
    gate: str = ""  # name of a manual approval gate to propose, if any


PLANS: dict[str, tuple[ProposedPhase, ...]] = {
    Strategy.CANARY: (
        ProposedPhase("Canary 1%", 1, min_soak_minutes=30, gate="Canary health approved"),
        ProposedPhase("Canary 10%", 10, min_soak_minutes=60, gate="Error rate reviewed"),
        ProposedPhase("Canary 50%", 50, min_soak_minutes=60, gate="Go for full rollout"),
        ProposedPhase("Full rollout 100%", 100),
    ),
    Strategy.BLUE_GREEN: (
        ProposedPhase("Deploy green", 0, gate="Green deployed"),
        ProposedPhase("Verify green", 0, min_soak_minutes=15, gate="Smoke tests signed off"),
        ProposedPhase("Switch traffic to green", 100, min_soak_minutes=30, gate="Traffic switch healthy"),
        ProposedPhase("Retire blue", 100),
    ),
    Strategy.ROLLING: (
        ProposedPhase("Batch 1 (25%)", 25, min_soak_minutes=15, gate="Batch 1 healthy"),
        ProposedPhase("Batch 2 (50%)", 50, min_soak_minutes=15, gate="Batch 2 healthy"),
        ProposedPhase("Batch 3 (75%)", 75, min_soak_minutes=15, gate="Batch 3 healthy"),
        ProposedPhase("Batch 4 (100%)", 100),
    ),
    Strategy.SHADOW: (
        ProposedPhase("Mirror traffic", 0, min_soak_minutes=60, gate="Shadow errors reviewed"),
        ProposedPhase("Compare results", 0, gate="Responses match"),
        ProposedPhase("Promote", 100),
    ),
    Strategy.FEATURE_FLAG: (
        ProposedPhase("Internal users", 0, environment=Environment.BETA, gate="Internal feedback reviewed"),
        ProposedPhase("Beta testers", 5, environment=Environment.BETA, min_soak_minutes=60, gate="Beta sign-off"),
        ProposedPhase("10% of users", 10, min_soak_minutes=60, gate="Metrics reviewed"),
        ProposedPhase("50% of users", 50, min_soak_minutes=60, gate="Go for everyone"),
        ProposedPhase("100% of users", 100),
    ),
}


def proposed_plan(strategy: str) -> tuple[ProposedPhase, ...]:
    return PLANS.get(strategy, ())
