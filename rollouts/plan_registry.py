"""Parts of a release's plan and story that other apps own.

rollouts never imports comms or docs_portal; each registers here in its AppConfig.ready():

- a plan part: `capture(release) -> dict` (JSON, no secrets; phases named by their index in
  the plan, times as minutes from the release's planned start) and
  `apply(release, data, actor) -> list[str] | None` (re-creates that part on a new release
  through the app's own services; raises ValidationError on bad data; returns notes on what
  it could not copy). `gate_kinds` names the gate kinds
  the part captures and re-creates itself (a comms-readiness gate points at a message).
- a dossier section: `build(release) -> dict` (JSON: ISO datetimes, no secrets, tokens or
  hashes), in a fixed number of queries whatever the size of the release.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PlanPart:
    name: str
    capture: Callable[[object], dict]
    apply: Callable[..., None]
    gate_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DossierSection:
    name: str
    build: Callable[[object], dict]


_parts: dict[str, PlanPart] = {}
_sections: dict[str, DossierSection] = {}


def register(name: str, *, capture, apply, gate_kinds=(), dossier=None) -> None:
    """Register an app's plan part (and, with `dossier`, its dossier section) under `name`."""
    _parts[name] = PlanPart(name=name, capture=capture, apply=apply, gate_kinds=frozenset(gate_kinds))
    if dossier is not None:
        _sections[name] = DossierSection(name=name, build=dossier)


def parts() -> list[PlanPart]:
    return list(_parts.values())


def part(name: str) -> PlanPart | None:
    return _parts.get(name)


def sections() -> list[DossierSection]:
    return list(_sections.values())


def owned_gate_kinds() -> set[str]:
    return {kind for p in _parts.values() for kind in p.gate_kinds}
