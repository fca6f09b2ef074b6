"""Home page sections whose data belongs to another app. comms registers "notices_due"
in its AppConfig.ready(); rollouts never imports comms. A provider takes keyword
arguments and returns a list of plain dicts for the section's template, in a fixed
number of queries."""

from collections.abc import Callable

Provider = Callable[..., list[dict]]
_providers: dict[str, Provider] = {}


def register(name: str, provider: Provider) -> None:
    _providers[name] = provider


def provide(name: str, **kwargs) -> list[dict]:
    provider = _providers.get(name)
    return provider(**kwargs) if provider is not None else []
