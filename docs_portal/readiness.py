"""The docs-readiness gate ("docs_ready"): a phase waits until its docs are published.

Which pages count: those linked to the gate's phase; when no page is linked to that
phase, every page linked to the release (with or without a phase). A gate with no page
to wait for keeps waiting and says so: a release manager added it on purpose, so an
empty list more likely means a forgotten link than "no docs needed" (remove the gate,
or make it advisory, when none are).

The engine asks this checker on every tick (rollouts/engine.py check_external_gates);
it answers (passed, evidence) and never changes anything itself.
"""

from django.db.models import Subquery

from docs_portal.models import DocLink, DocStatus
from rollouts.models import Phase


def pages_for_gate(gate) -> tuple[str, list[tuple[int, str, str]]]:
    """("phase" | "release", [(page id, title, status)]) that the gate waits for (one query)."""
    release_id = Subquery(Phase.objects.filter(pk=gate.phase_id).values("release_id")[:1])
    rows = list(
        DocLink.objects.filter(release_id=release_id)
        .values_list("phase_id", "page_id", "page__title", "page__status")
        .order_by("page__title", "page_id")
    )
    on_phase = [row for row in rows if row[0] == gate.phase_id]
    scope, chosen = ("phase", on_phase) if on_phase else ("release", rows)
    pages, seen = [], set()
    for _phase_id, page_id, title, status in chosen:
        if page_id not in seen:
            seen.add(page_id)
            pages.append((page_id, title, status))
    return scope, pages


def linked_docs_published(gate) -> tuple[bool, dict]:
    scope, pages = pages_for_gate(gate)
    if not pages:
        return False, {"waiting": "No doc page is linked to this phase or its release yet."}
    drafts = [title for _pk, title, status in pages if status != DocStatus.PUBLISHED]
    if drafts:
        return False, {"scope": scope, "waiting": "Not published yet: " + ", ".join(drafts), "drafts": drafts}
    return True, {"scope": scope, "pages": [pk for pk, _title, _status in pages], "published": len(pages)}
