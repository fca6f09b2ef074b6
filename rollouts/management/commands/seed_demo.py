"""Load realistic demo data: users for every role and releases in every state.

Safe to run twice: users are matched by username and releases by slug, and
nothing that exists is touched.
"""

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from rollouts import services, transitions
from rollouts.models import GateKind, Phase, Release, Strategy
from rollouts.roles import APPROVER, RELEASE_MANAGER, SUPPORT, VIEWER

DEMO_PASSWORD = "flightdeck-demo"  # noqa: S105 - printed on purpose for the demo

USERS = [
    ("admin", "Ada", "Admin", None, True),
    ("maria", "Maria", "Lopez", RELEASE_MANAGER, False),
    ("tom", "Tom", "Becker", RELEASE_MANAGER, False),
    ("priya", "Priya", "Shah", APPROVER, False),
    ("sam", "Sam", "Okafor", APPROVER, False),
    ("lee", "Lee", "Chen", SUPPORT, False),
    ("vic", "Vic", "Novak", VIEWER, False),
]


class Command(BaseCommand):
    help = "Load demo users and releases (safe to run more than once)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help="Load nothing if demo data was loaded before (just print the logins).",
        )

    def handle(self, *args, **options):
        if options["once"] and get_user_model().objects.filter(username="maria").exists():
            self.stdout.write("Demo data was loaded before; leaving it as it is.")
        else:
            # The timeline log of every demo event would bury the logins printed below.
            logging.getLogger("rollouts.events").setLevel(logging.WARNING)
            users = self._users()
            created = self._releases(users)
            self._docs(users)
            self._flags(users)
            self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new releases)."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, _first, _last, role, _superuser in USERS:
            self.stdout.write(f"  {username:<6} {role or 'superuser (admin)'}")

    def _users(self):
        User = get_user_model()
        users = {}
        for username, first, last, role, superuser in USERS:
            user, made = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.com",
                    "is_staff": superuser,
                    "is_superuser": superuser,
                },
            )
            if made:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            if role:
                user.groups.add(Group.objects.get(name=role))
            users[username] = user
        return users

    def _backdate_active(self, release: Release, minutes: int = 240) -> None:
        """Make the active phase look as if it started hours ago, so its soak is over."""
        Phase.objects.filter(release=release, status="active").update(
            started_at=timezone.now() - timedelta(minutes=minutes)
        )

    def _approve_all(self, release: Release, approver) -> None:
        release.refresh_from_db()
        for gate in release.current_phase.gates.filter(status="pending", kind=GateKind.MANUAL_APPROVAL):
            transitions.gate_approve(gate_id=gate.pk, actor=approver, comment="Dashboards look healthy.")

    def _advance(self, release: Release, manager, approver, times: int) -> None:
        for _ in range(times):
            self._backdate_active(release)
            self._approve_all(release, approver)
            release.refresh_from_db()
            transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)

    def _plan(self, slug, users, **fields) -> Release | None:
        if Release.objects.filter(slug=slug).exists():
            return None
        release = services.release_create(actor=fields.pop("actor"), slug=slug, **fields)
        services.rollback_step_add(
            release_id=release.pk,
            actor=release.owner,
            title="Set traffic weight of the new version to 0%",
            instructions="In the load balancer, route all traffic back to the stable pool.",
            owner=release.owner,
            expected_minutes=2,
        )
        services.rollback_step_add(
            release_id=release.pk,
            actor=release.owner,
            title="Redeploy the previous version",
            instructions="Run the deploy pipeline for the last good tag.",
            owner=users["tom"],
            expected_minutes=10,
        )
        services.rollback_step_add(
            release_id=release.pk,
            actor=release.owner,
            title="Confirm error rates are back to baseline",
            instructions="Check the service dashboard for 15 minutes.",
            owner=None,
            expected_minutes=15,
        )
        return release

    @transaction.atomic
    def _releases(self, users) -> int:
        maria, tom, priya, sam = users["maria"], users["tom"], users["priya"], users["sam"]
        now = timezone.now()
        created = 0

        r = self._plan(
            "checkout-v2",
            users,
            actor=maria,
            name="Checkout v2",
            version="2.4.0",
            owner=maria,
            strategy=Strategy.CANARY,
            summary="New one-page checkout with saved cards.\n\nCustomers see a single page instead of three steps.",
            planned_start=now - timedelta(days=1),
        )
        if r:
            created += 1
            transitions.release_start(release_id=r.pk, actor=maria)
            self._advance(r, maria, priya, 1)
            checklist_phase = r.phases.get(position=1)
            services.gate_add(
                phase_id=checklist_phase.pk,
                actor=maria,
                name="Support ready",
                kind=GateKind.CHECKLIST,
                checklist=["Support briefed on the new flow", "Known-issue macro prepared"],
            )

        r = self._plan(
            "search-revamp",
            users,
            actor=tom,
            name="Search revamp",
            version="5.0.0",
            owner=tom,
            strategy=Strategy.FEATURE_FLAG,
            summary="Typo-tolerant search behind the `search_v5` flag.",
            planned_start=now + timedelta(days=2),
        )
        if r:
            created += 1
            transitions.release_schedule(release_id=r.pk, actor=tom)

        r = self._plan(
            "payments-bluegreen",
            users,
            actor=maria,
            name="Payments service",
            version="3.1.0",
            owner=maria,
            strategy=Strategy.BLUE_GREEN,
            summary="Move payments to the new cluster with a blue/green switch.",
            planned_start=now + timedelta(days=5),
        )
        if r:
            created += 1

        r = self._plan(
            "image-resizer",
            users,
            actor=tom,
            name="Image resizer",
            version="1.8.2",
            owner=tom,
            strategy=Strategy.ROLLING,
            summary="Faster thumbnails with the new codec.",
            planned_start=now - timedelta(days=6),
        )
        if r:
            created += 1
            transitions.release_start(release_id=r.pk, actor=tom)
            self._advance(r, tom, sam, 3)
            self._backdate_active(r)
            transitions.release_complete(release_id=r.pk, actor=tom)

        r = self._plan(
            "notifications-shadow",
            users,
            actor=maria,
            name="Notifications engine",
            version="0.9.0",
            owner=maria,
            strategy=Strategy.SHADOW,
            summary="Mirror notification traffic to the rewritten engine.",
            planned_start=now - timedelta(hours=5),
        )
        if r:
            created += 1
            transitions.release_start(release_id=r.pk, actor=maria)
            r.refresh_from_db()
            gate = r.current_phase.gates.first()
            transitions.gate_reject(
                gate_id=gate.pk, actor=sam, comment="Shadow responses differ for 2% of push payloads."
            )

        r = self._plan(
            "billing-export",
            users,
            actor=tom,
            name="Billing export",
            version="4.2.0",
            owner=tom,
            strategy=Strategy.CANARY,
            summary="CSV exports rewritten for large accounts.",
            planned_start=now - timedelta(days=3),
        )
        if r:
            created += 1
            transitions.release_start(release_id=r.pk, actor=tom)
            run = transitions.release_rollback(
                release_id=r.pk, actor=tom, reason="Export timeouts for accounts with >1M rows."
            )
            for step in run.steps.all():
                transitions.rollback_step_done(run_step_id=step.pk, actor=tom, note="Done")

        r = self._plan(
            "mobile-api",
            users,
            actor=maria,
            name="Mobile API",
            version="7.0.0",
            owner=maria,
            strategy=Strategy.ROLLING,
            summary="New pagination for the mobile API.",
            planned_start=now - timedelta(hours=2),
        )
        if r:
            created += 1
            transitions.release_start(release_id=r.pk, actor=maria)
            self._advance(r, maria, priya, 1)
            run = transitions.release_rollback(
                release_id=r.pk, actor=maria, reason="Older app versions crash on the new cursor format."
            )
            first = run.steps.order_by("position").first()
            transitions.rollback_step_done(run_step_id=first.pk, actor=maria, note="Weight set to 0")

        r = self._plan(
            "legacy-reports",
            users,
            actor=tom,
            name="Legacy reports removal",
            version="2.0.0",
            owner=tom,
            strategy=Strategy.ROLLING,
            summary="Retire the old reports pages.",
        )
        if r:
            created += 1
            transitions.release_cancel(release_id=r.pk, actor=tom, reason="Customers still depend on it.")
        return created

    @transaction.atomic
    def _docs(self, users) -> None:
        """A few doc pages linked to releases, and release notes (pages matched by slug)."""
        from docs_portal import services as docs
        from docs_portal.models import DocPage, PublishRule, ReleaseNotes, Visibility

        logging.getLogger("docs_portal").setLevel(logging.WARNING)
        maria = users["maria"]
        releases = {r.slug: r for r in Release.objects.filter(slug__in=["checkout-v2", "image-resizer"])}
        pages = [
            (
                "getting-started",
                "Getting started",
                Visibility.PUBLIC,
                PublishRule.MANUAL,
                True,
                None,
                "## Sign in\n\nOpen the app and sign in with your work account.\n\n## Your first order\n\n"
                "1. Add items to the cart\n2. Open **Checkout**\n3. Pay with a saved card",
            ),
            (
                "checkout-faq",
                "One-page checkout: what changes",
                Visibility.PUBLIC,
                PublishRule.PHASE_START,
                False,
                "checkout-v2",
                "## What is new\n\nCheckout is one page.\n\n## Saved cards\n\n"
                "| Card | Saved |\n|---|---|\n| Visa | yes |\n| Amex | yes |",
            ),
            (
                "checkout-support",
                "Checkout v2 support runbook",
                Visibility.SUPPORT,
                PublishRule.MANUAL,
                True,
                "checkout-v2",
                "## Known symptoms\n\n- Saved card missing: ask the customer to sign in again.\n\n"
                "## Escalation\n\nPage the payments on-call.",
            ),
            (
                "checkout-rollout-plan",
                "Checkout v2 rollout notes",
                Visibility.INTERNAL,
                PublishRule.MANUAL,
                False,
                "checkout-v2",
                "Internal notes for release managers.",
            ),
        ]
        for slug, title, visibility, rule, publish, release_slug, body in pages:
            if DocPage.objects.filter(slug=slug).exists():
                continue
            page = docs.page_create(
                actor=maria, slug=slug, title=title, body=body, visibility=visibility, publish_rule=rule
            )
            release = releases.get(release_slug)
            if release is not None:
                phase = release.phases.order_by("-position").first() if rule == PublishRule.PHASE_START else None
                docs.link_add(page_id=page.pk, release_id=release.pk, phase_id=phase.pk if phase else None, actor=maria)
            if publish:
                docs.page_publish(page_id=page.pk, actor=maria)
        resizer = releases.get("image-resizer")
        if resizer is not None and not ReleaseNotes.objects.filter(release=resizer).exists():
            docs.release_notes_save(
                release_id=resizer.pk,
                actor=users["tom"],
                body="Images load faster: thumbnails are resized on the fly and cached.",
            )

    def _flags(self, users) -> None:
        """A segment and a few feature flags following the demo releases (matched by key)."""
        from flags import services as flags
        from flags.models import Flag, FlagType, Segment

        maria = users["maria"]
        releases = {r.slug: r for r in Release.objects.filter(slug__in=["checkout-v2", "search-revamp"])}
        if not Segment.objects.filter(key="beta-testers").exists():
            segment = flags.segment_create(
                actor=maria,
                key="beta-testers",
                name="Beta testers",
                description="Customers who signed up for early features.",
                targeting_keys=["acme", "globex", "initech"],
            )
            beta_phase = Phase.objects.filter(release__slug="search-revamp", name__icontains="beta").first()
            if beta_phase is not None:
                flags.phase_segments_set(phase_id=beta_phase.pk, segments=[segment], actor=maria)
        demo = [
            ("one-page-checkout", "One-page checkout", FlagType.BOOLEAN, {"on": True, "off": False}, "checkout-v2", 0),
            ("search-v5", "Typo-tolerant search", FlagType.BOOLEAN, {"on": True, "off": False}, "search-revamp", 0),
            ("checkout-theme", "Checkout theme", FlagType.STRING, {"blue": "blue", "classic": "classic"}, None, 100),
        ]
        for key, name, flag_type, variants, release_slug, fixed in demo:
            if Flag.objects.filter(key=key).exists():
                continue
            on, off = list(variants)
            flags.flag_create(
                actor=maria,
                key=key,
                name=name,
                type=flag_type,
                variants=variants,
                on_variant=on,
                off_variant=off,
                release=releases.get(release_slug) if release_slug else None,
                fixed_exposure=fixed,
            )
