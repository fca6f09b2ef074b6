"""Read queries for the comms pages. Each returns its data in a fixed number of queries."""

from django.db.models import Count, IntegerField, Min, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower

from comms.models import Audience, Membership, Notice, Stakeholder


def _member_count(condition: Q | None = None):
    memberships = Membership.objects.filter(audience=OuterRef("pk"))
    if condition is not None:
        memberships = memberships.filter(condition)
    counted = memberships.order_by().values("audience").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def audience_list() -> QuerySet[Audience]:
    """Audiences by name with member_count (everyone in it) and reachable_count (those
    who still receive its notices): one query."""
    return Audience.objects.annotate(
        member_count=_member_count(),
        reachable_count=_member_count(Q(unsubscribed_at__isnull=True, stakeholder__opted_out_at__isnull=True)),
    ).order_by(Lower("name"), "pk")


def audience_choices() -> QuerySet[Audience]:
    return Audience.objects.only("pk", "name").order_by(Lower("name"), "pk")


def audience_by_id(audience_id: int) -> Audience | None:
    return Audience.objects.filter(pk=audience_id).first()


def _with_memberships(queryset: QuerySet[Stakeholder]) -> QuerySet[Stakeholder]:
    memberships = Membership.objects.select_related("audience").order_by(Lower("audience__name"), "audience_id")
    return queryset.prefetch_related(Prefetch("memberships", queryset=memberships))


def stakeholder_list(*, query: str = "", audience_id: int | None = None) -> QuerySet[Stakeholder]:
    """Stakeholders by email, searched in email, name and organisation, optionally only one
    audience's; paginated, a page is a count, the rows and their memberships: three queries."""
    stakeholders = Stakeholder.objects.all()
    if query:
        stakeholders = stakeholders.filter(
            Q(email__icontains=query) | Q(name__icontains=query) | Q(organisation__icontains=query)
        )
    if audience_id is not None:
        # One membership per (stakeholder, audience), so the join adds no duplicates.
        stakeholders = stakeholders.filter(memberships__audience_id=audience_id)
    return _with_memberships(stakeholders.order_by(Lower("email"), "pk"))


def stakeholder_by_id(stakeholder_id: int) -> Stakeholder | None:
    """The stakeholder with memberships (and their audiences) prefetched, or None."""
    return _with_memberships(Stakeholder.objects.filter(pk=stakeholder_id)).first()


def notices_due(*, since, until, limit: int) -> list[dict]:
    """For the home page: pending notices due in [since, until), counted per message,
    soonest first (one query)."""
    rows = (
        Notice.objects.filter(status=Notice.Status.PENDING, due_at__gte=since, due_at__lt=until)
        .order_by()
        .values(
            "message_id",
            "message__name",
            "message__plan__release__name",
            "message__plan__release__version",
            "message__plan__release__slug",
        )
        .annotate(count=Count("pk"), first_due=Min("due_at"))
        .order_by("first_due", "message_id")[:limit]
    )
    return [
        {
            "message": r["message__name"],
            "release": f"{r['message__plan__release__name']} {r['message__plan__release__version']}",
            "slug": r["message__plan__release__slug"],
            "count": r["count"],
            "first_due": r["first_due"],
        }
        for r in rows
    ]
