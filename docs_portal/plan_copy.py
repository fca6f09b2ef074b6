"""The doc links' part of release templates and of the release dossier.

Registered in docs_portal/apps.py with rollouts/plan_registry.py (rollouts never imports
docs_portal). Pages are shared, so a template keeps links only (page slug, phase by its
index in the plan); a page deleted since is skipped, with a note.
"""

from django.core.exceptions import ValidationError

from docs_portal import services
from docs_portal.models import DocLink, DocPage
from rollouts.models import Release


def capture(release: Release) -> dict:
    phase_index = {pk: i for i, pk in enumerate(release.phases.order_by("position", "id").values_list("pk", flat=True))}
    links = DocLink.objects.filter(release=release).order_by("id").values_list("page__slug", "phase_id")
    return {"links": [{"page": slug, "phase": phase_index.get(phase_id)} for slug, phase_id in links]}


def apply(release: Release, data: dict, actor) -> list[str]:
    links = data.get("links", [])
    if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
        raise ValidationError({"template": ["The doc links in this template are not a list of links."]})
    phases = list(release.phases.order_by("position", "id").values_list("pk", flat=True))
    pages = dict(DocPage.objects.filter(slug__in=[link.get("page") for link in links]).values_list("slug", "pk"))
    notes = []
    for link in links:
        page_id = pages.get(link.get("page"))
        if page_id is None:
            notes.append(f"Doc page “{link.get('page')}” no longer exists, so it was not linked.")
            continue
        index = link.get("phase")
        if index is not None and (not isinstance(index, int) or not 0 <= index < len(phases)):
            raise ValidationError({"template": ["A doc link in this template names a phase the plan does not have."]})
        services.link_add(
            page_id=page_id, release_id=release.pk, phase_id=phases[index] if index is not None else None, actor=actor
        )
    return notes


def dossier_section(release: Release) -> dict:
    """The linked pages with their status (one query)."""
    links = DocLink.objects.filter(release=release).select_related("page", "phase").order_by("page__title", "id")
    return {
        "links": [
            {
                "page": link.page.slug,
                "title": link.page.title,
                "visibility": link.page.visibility,
                "status": link.page.status,
                "published_at": link.page.published_at.isoformat() if link.page.published_at else None,
                "phase": link.phase.name if link.phase else None,
                "linked_at": link.created_at.isoformat(),
            }
            for link in links
        ]
    }


def register() -> None:
    from rollouts import plan_registry

    plan_registry.register("docs", capture=capture, apply=apply, dossier=dossier_section)
