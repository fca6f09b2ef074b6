"""Doc pages made the way the product makes them: through docs_portal.services."""

import itertools

from docs_portal import services
from docs_portal.models import DocPage, PublishRule, Visibility

_n = itertools.count(1)


def make_page(
    *,
    author,
    title: str | None = None,
    slug: str | None = None,
    body: str = "Some text.",
    visibility: str = Visibility.SUPPORT,
    publish_rule: str = PublishRule.MANUAL,
    published: bool = False,
) -> DocPage:
    n = next(_n)
    page = services.page_create(
        actor=author,
        slug=slug or f"page-{n}",
        title=title or f"Page {n}",
        body=body,
        visibility=visibility,
        publish_rule=publish_rule,
    )
    if published:
        page = services.page_publish(page_id=page.pk, actor=author)
    return page


def link(page, release, phase=None, *, actor):
    return services.link_add(page_id=page.pk, release_id=release.pk, phase_id=phase.pk if phase else None, actor=actor)
