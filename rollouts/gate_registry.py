"""Gate kinds another app answers. comms registers "comms_ready" in its AppConfig.ready();
rollouts never imports comms. A checker takes the gate and returns (passed, evidence)
with passed True when the gate may pass, else False to keep waiting."""

from collections.abc import Callable

Checker = Callable[[object], tuple[bool, dict]]
_checkers: dict[str, Checker] = {}


def register(kind: str, checker: Checker) -> None:
    _checkers[kind] = checker


def checker_for(kind: str) -> Checker | None:
    return _checkers.get(kind)
