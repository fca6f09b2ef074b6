"""Automated rollback actions another app performs. flags registers "flag_off" in its
AppConfig.ready(); rollouts never imports flags. A performer takes the RollbackRunStep
(its action_config says what to act on) and returns (done, detail): done True when the
step succeeded, else False with a message the rollback run shows and retries."""

from collections.abc import Callable

Performer = Callable[[object], tuple[bool, str]]
_performers: dict[str, Performer] = {}


def register(action: str, performer: Performer) -> None:
    _performers[action] = performer


def performer_for(action: str) -> Performer | None:
    return _performers.get(action)
