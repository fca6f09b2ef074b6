"""Every change to docs: pages and their revisions, publishing, links to releases, release notes.

Each function runs in one transaction and locks the page row first, so two people saving
one page at once get revision n and n+1, never the same number. Every save writes a
DocRevision (the page row holds the latest text). Changes that concern a release (a page
published, linked, unlinked or deleted; its release notes edited) are written to that
release's timeline through rollouts.events, and move the release's updated_at so its
page, which polls for changes, shows them.
"""

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from docs_portal.models import DocLink, DocPage, DocRevision, DocStatus, PublishRule, ReleaseNotes, Visibility
from rollouts import events
from rollouts.models import Event, Phase, Release

log = logging.getLogger("docs_portal.services")

# Paths under docs/ that are not pages.
RESERVED_SLUGS = frozenset({"new", "search", "changelog", "releases", "preview", "feeds", "api", "static"})

# Verbs after which a publish rule may fire.
PHASE_START_VERBS = {"release.started", "phase.advanced"}
RELEASE_COMPLETE_VERBS = {"release.completed"}
PUBLISH_TRIGGER_VERBS = PHASE_START_VERBS | RELEASE_COMPLETE_VERBS


class DocsError(Exception):
    """A change that cannot happen; the message is for people."""

    status_code = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AlreadyDone(DocsError):
    """Someone (maybe this very caller, retrying) already made this change."""


def _actor(user):
    return user if getattr(user, "is_authenticated", False) else None


def _lock_page(page_id: int) -> DocPage:
    try:
        return DocPage.objects.select_for_update().get(pk=page_id)
    except DocPage.DoesNotExist:
        raise DocsError("This page no longer exists.") from None


def _latest_number(page: DocPage) -> int:
    return DocRevision.objects.filter(page=page).aggregate(n=Max("number"))["n"] or 0


def _write_revision(page: DocPage, *, actor, note: str, now=None) -> DocRevision:
    """The caller holds the page lock, so max + 1 is free (a unique constraint backs it)."""
    return DocRevision.objects.create(
        page=page,
        number=_latest_number(page) + 1,
        title=page.title,
        body=page.body,
        visibility=page.visibility,
        status=page.status,
        note=note[:200],
        author=_actor(actor),
        created_at=now or timezone.now(),
    )


def _linked_releases(page: DocPage) -> list[Release]:
    return list(Release.objects.filter(doc_links__page=page).distinct().order_by("pk"))


def _touch(release_ids, now) -> None:
    """The release page polls on the release's updated_at: move it so the docs section refreshes."""
    ids = list(release_ids)
    if ids:
        Release.objects.filter(pk__in=ids).update(updated_at=now)


def _record_on_releases(page: DocPage, releases: list[Release], *, verb: str, actor, now, phase=None, **data):
    # Everyone with a role reads the release timeline (and the events API), so an internal
    # page is named there only by its id: its title and slug stay with those who may read it.
    internal = page.visibility == Visibility.INTERNAL
    for release in releases:
        events.record(
            release=release,
            verb=verb,
            actor=_actor(actor),
            phase=phase if phase is not None and phase.release_id == release.pk else None,
            reason="an internal page" if internal else page.title,
            page=page.pk,
            **({"internal": True} if internal else {"slug": page.slug}),
            **data,
        )
    _touch((r.pk for r in releases), now)


def check_slug(slug: str) -> None:
    if slug in RESERVED_SLUGS:
        raise ValidationError({"slug": f"“{slug}” is a reserved address under /docs/; choose another slug."})


# --- Pages and revisions ---------------------------------------------------------------


@transaction.atomic
def page_create(
    *,
    actor,
    slug: str,
    title: str,
    body: str = "",
    visibility: str,
    publish_rule: str = PublishRule.MANUAL,
    note: str = "",
) -> DocPage:
    """A new draft page and its revision 1."""
    check_slug(slug)
    now = timezone.now()
    try:
        with transaction.atomic():
            page = DocPage.objects.create(
                slug=slug,
                title=title,
                body=body,
                visibility=visibility,
                publish_rule=publish_rule,
                status=DocStatus.DRAFT,
                created_by=_actor(actor),
                updated_by=_actor(actor),
            )
    except IntegrityError:
        raise ValidationError({"slug": "A page with this slug exists."}) from None
    _write_revision(page, actor=actor, note=note or "Created", now=now)
    log.info("doc.created page=%s", page.pk)
    return page


@transaction.atomic
def page_update(
    *,
    page_id: int,
    actor,
    title: str,
    body: str,
    visibility: str,
    publish_rule: str,
    note: str = "",
    base_revision: int | None = None,
) -> DocPage:
    """Save new text and settings as the next revision.

    `base_revision` is the revision the editor started from: when someone else saved in
    between, the save is refused (nothing is lost: the form keeps what was typed) instead
    of silently overwriting their work. Saving what is already there writes nothing;
    the returned page then has `changed` False.
    """
    page = _lock_page(page_id)
    latest = _latest_number(page)
    if base_revision is not None and base_revision != latest:
        last = DocRevision.objects.select_related("author").get(page=page, number=latest)
        who = (last.author.get_full_name() or last.author.get_username()) if last.author else "Flightdeck"
        raise ValidationError(
            f"{who} saved revision {latest} of this page since you opened it. Copy your text, reload "
            "the page to see their changes, and apply yours again.",
            code="conflict",
        )
    new = {"title": title, "body": body, "visibility": visibility, "publish_rule": publish_rule}
    if all(getattr(page, name) == value for name, value in new.items()):
        page.changed = False
        return page
    now = timezone.now()
    for name, value in new.items():
        setattr(page, name, value)
    page.updated_by = _actor(actor)
    page.save(update_fields=[*new, "updated_by", "updated_at"])
    _write_revision(page, actor=actor, note=note or "Edited", now=now)
    _touch(Release.objects.filter(doc_links__page=page).values_list("pk", flat=True).distinct(), now)
    page.changed = True
    return page


@transaction.atomic
def page_restore(*, page_id: int, number: int, actor) -> DocPage:
    """Bring back the title and text of an old revision, as a new revision.

    Visibility and status stay as they are now: restoring old text must not publish it,
    nor show it to more (or fewer) people than the page reaches today.
    """
    page = _lock_page(page_id)
    revision = DocRevision.objects.filter(page=page, number=number).first()
    if revision is None:
        raise DocsError(f"This page has no revision {number}.")
    if revision.title == page.title and revision.body == page.body:
        raise AlreadyDone(f"The page already reads as revision {number}.")
    now = timezone.now()
    page.title, page.body, page.updated_by = revision.title, revision.body, _actor(actor)
    page.save(update_fields=["title", "body", "updated_by", "updated_at"])
    _write_revision(page, actor=actor, note=f"Restored revision {number}", now=now)
    _touch(Release.objects.filter(doc_links__page=page).values_list("pk", flat=True).distinct(), now)
    return page


@transaction.atomic
def page_publish(*, page_id: int, actor, trigger_event: Event | None = None, reason: str = "", now=None) -> DocPage:
    """Publish a draft: readers of its visibility see it from now on.

    `trigger_event` is the release Event whose publish rule fired (None: by hand). The
    timeline keeps which event published the page, so a task delivered twice publishes
    once, even if someone unpublished the page in between.
    """
    page = _lock_page(page_id)
    if page.status == DocStatus.PUBLISHED:
        raise AlreadyDone(f"“{page.title}” is already published.")
    data = {}
    if trigger_event is not None:
        done = Event.objects.filter(verb="doc.published", data__page=page.pk, data__trigger_event=trigger_event.pk)
        if done.exists():
            raise AlreadyDone(f"“{page.title}” was already published when its rule fired.")
        data = {"trigger_event": trigger_event.pk, "rule": page.publish_rule}
    now = now or timezone.now()
    page.status = DocStatus.PUBLISHED
    page.published_at = now
    if _actor(actor) is not None:
        page.updated_by = actor
    page.save(update_fields=["status", "published_at", "updated_by", "updated_at"])
    _write_revision(page, actor=actor, note=reason or "Published", now=now)
    phase = trigger_event.phase if trigger_event is not None else None
    _record_on_releases(page, _linked_releases(page), verb="doc.published", actor=actor, now=now, phase=phase, **data)
    log.info("doc.published page=%s trigger=%s", page.pk, data.get("trigger_event"))
    return page


@transaction.atomic
def page_unpublish(*, page_id: int, actor) -> DocPage:
    page = _lock_page(page_id)
    if page.status != DocStatus.PUBLISHED:
        raise AlreadyDone(f"“{page.title}” is already a draft.")
    now = timezone.now()
    page.status = DocStatus.DRAFT
    page.published_at = None
    page.updated_by = _actor(actor)
    page.save(update_fields=["status", "published_at", "updated_by", "updated_at"])
    _write_revision(page, actor=actor, note="Unpublished", now=now)
    _record_on_releases(page, _linked_releases(page), verb="doc.unpublished", actor=actor, now=now)
    return page


@transaction.atomic
def page_delete(*, page_id: int, actor) -> None:
    """Delete a page with its history; the timelines of its releases keep that it existed."""
    page = _lock_page(page_id)
    now = timezone.now()
    _record_on_releases(page, _linked_releases(page), verb="doc.deleted", actor=actor, now=now)
    page.delete()


# --- Links to releases -----------------------------------------------------------------


@transaction.atomic
def link_add(*, page_id: int, release_id: int, phase_id: int | None = None, actor) -> DocLink:
    page = _lock_page(page_id)
    release = Release.objects.filter(pk=release_id).first()
    if release is None:
        raise ValidationError({"release": "That release no longer exists."})
    phase = None
    if phase_id is not None:
        phase = Phase.objects.filter(pk=phase_id).first()
        if phase is None or phase.release_id != release.pk:
            raise ValidationError({"phase": f"Choose a phase of {release}; that one belongs to another release."})
    existing = DocLink.objects.filter(page=page, release=release, phase=phase)
    if existing.exists():
        where = f"phase “{phase.name}” of {release}" if phase else str(release)
        raise ValidationError({"page": f"“{page.title}” is already linked to {where}."})
    try:
        with transaction.atomic():
            link = DocLink.objects.create(page=page, release=release, phase=phase)
    except IntegrityError:
        raise ValidationError({"page": f"“{page.title}” is already linked to {release}."}) from None
    now = timezone.now()
    _record_on_releases(page, [release], verb="doc.linked", actor=actor, now=now, phase=phase)
    return link


@transaction.atomic
def link_remove(*, link_id: int, actor) -> None:
    page_id = DocLink.objects.filter(pk=link_id).values_list("page_id", flat=True).first()
    if page_id is None:
        raise AlreadyDone("That link was already removed.")
    page = _lock_page(page_id)
    link = DocLink.objects.select_related("release", "phase").filter(pk=link_id).first()
    if link is None:
        raise AlreadyDone("That link was already removed.")
    release, phase = link.release, link.phase
    link.delete()
    _record_on_releases(page, [release], verb="doc.unlinked", actor=actor, now=timezone.now(), phase=phase)


# --- Publish rules ---------------------------------------------------------------------


def pages_publish_for_event(*, event_id: int) -> list[int]:
    """Publish the drafts whose rule this release Event fires. Safe to run twice.

    "When a linked phase starts": pages linked to the phase that release.started or
    phase.advanced made active. "When the release completes": pages linked to the release
    that release.completed finished. Each page is published in its own transaction.
    """
    event = Event.objects.select_related("phase").filter(pk=event_id).first()
    if event is None:
        return []
    drafts = DocPage.objects.filter(status=DocStatus.DRAFT)
    if event.verb in PHASE_START_VERBS and event.phase_id:
        drafts = drafts.filter(publish_rule=PublishRule.PHASE_START, links__phase_id=event.phase_id)
        reason = f"Published when phase “{event.phase.name}” started"
    elif event.verb in RELEASE_COMPLETE_VERBS:
        drafts = drafts.filter(publish_rule=PublishRule.RELEASE_COMPLETE, links__release_id=event.release_id)
        reason = "Published when the release completed"
    else:
        return []
    published = []
    for page_id in drafts.values_list("pk", flat=True).distinct().order_by("pk"):
        try:
            page_publish(page_id=page_id, actor=None, trigger_event=event, reason=reason)
        except DocsError as exc:
            log.info("doc.publish_skipped page=%s event=%s: %s", page_id, event_id, exc.message)
            continue
        published.append(page_id)
    return published


# --- Release notes ---------------------------------------------------------------------


@transaction.atomic
def release_notes_save(*, release_id: int, actor, body: str, visible_from_phase_id: int | None = None) -> ReleaseNotes:
    """Write a release's notes. The release row is locked so two editors get one row."""
    try:
        release = Release.objects.select_for_update().get(pk=release_id)
    except Release.DoesNotExist:
        raise DocsError("This release no longer exists.") from None
    phase = None
    if visible_from_phase_id is not None:
        phase = Phase.objects.filter(pk=visible_from_phase_id, release=release).first()
        if phase is None:
            raise ValidationError({"visible_from_phase": f"Choose a phase of {release}."})
    notes = ReleaseNotes.objects.filter(release=release).first()
    if notes is not None and notes.body == body and notes.visible_from_phase_id == visible_from_phase_id:
        notes.changed = False
        return notes
    if notes is None:
        notes = ReleaseNotes(release=release)
    notes.body = body
    notes.visible_from_phase = phase
    notes.updated_by = _actor(actor)
    notes.save()
    now = timezone.now()
    events.record(
        release=release,
        verb="doc.release_notes_saved",
        actor=_actor(actor),
        phase=phase,
        visible_from=phase.name if phase else "completion",
    )
    _touch([release.pk], now)
    notes.changed = True
    return notes
