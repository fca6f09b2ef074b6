import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from rollouts.models import ChecklistItem, Gate, GateKind, Phase, Release, RollbackStep, Strategy

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            for name in extracted:
                self.groups.add(Group.objects.get_or_create(name=name)[0])
        if create:
            self.save()


class ReleaseFactory(factory.django.DjangoModelFactory):
    """A bare draft release; add phases with PhaseFactory."""

    class Meta:
        model = Release

    name = factory.Sequence(lambda n: f"Release {n}")
    version = factory.Sequence(lambda n: f"1.{n}.0")
    slug = factory.Sequence(lambda n: f"release-{n}")
    owner = factory.SubFactory(UserFactory)
    strategy = Strategy.CANARY


class PhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Phase

    release = factory.SubFactory(ReleaseFactory)
    position = factory.Sequence(lambda n: n)
    name = factory.Sequence(lambda n: f"Phase {n}")
    exposure_percent = 10
    min_soak_minutes = 0


class GateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Gate

    phase = factory.SubFactory(PhaseFactory)
    name = factory.Sequence(lambda n: f"Gate {n}")
    kind = GateKind.MANUAL_APPROVAL
    required = True
    required_approvals = 1


class ChecklistItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChecklistItem

    gate = factory.SubFactory(GateFactory, kind=GateKind.CHECKLIST)
    text = factory.Sequence(lambda n: f"Item {n}")
    position = factory.Sequence(lambda n: n)


class RollbackStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RollbackStep

    release = factory.SubFactory(ReleaseFactory)
    title = factory.Sequence(lambda n: f"Step {n}")
    position = factory.Sequence(lambda n: n)
    expected_minutes = 5


def release_with_phases(*, owner, exposures=(1, 10, 100), soak=0, gates_per_phase=1, strategy=Strategy.CANARY, **kw):
    """A draft release with one phase per exposure and manual approval gates on each."""
    release = ReleaseFactory(owner=owner, strategy=strategy, **kw)
    for i, exposure in enumerate(exposures):
        phase = PhaseFactory(
            release=release, position=i, name=f"Phase {i + 1}", exposure_percent=exposure, min_soak_minutes=soak
        )
        for g in range(gates_per_phase):
            GateFactory(phase=phase, name=f"Gate {i + 1}.{g + 1}", position=g)
    return release


# --- Webhooks -------------------------------------------------------------------------
from rollouts.models import Event, WebhookDelivery, WebhookSubscription  # noqa: E402
from rollouts.webhooks import new_secret  # noqa: E402


class EventFactory(factory.django.DjangoModelFactory):
    """A bare timeline row, as rollouts.events.record writes it (without the on-commit hand-off)."""

    class Meta:
        model = Event

    release = factory.SubFactory(ReleaseFactory)
    verb = "release.started"


class WebhookSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    name = factory.Sequence(lambda n: f"Receiver {n}")
    url = factory.Sequence(lambda n: f"https://hooks{n}.example.com/flightdeck")
    events = factory.LazyFunction(list)
    secret = factory.LazyFunction(new_secret)


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    subscription = factory.SubFactory(WebhookSubscriptionFactory)
    event = factory.SubFactory(EventFactory)
    message_id = factory.Sequence(lambda n: f"msg_factory_{n}")
    payload = factory.LazyAttribute(lambda d: {"type": d.event.verb, "timestamp": "", "data": {}})


# --- Comms: audiences, stakeholders, plans, messages, notices ------------------------
from comms.models import Audience, CommunicationPlan, Membership, Message, Notice, Stakeholder  # noqa: E402


class AudienceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Audience

    name = factory.Sequence(lambda n: f"Audience {n}")


class StakeholderFactory(factory.django.DjangoModelFactory):
    """A stakeholder; `StakeholderFactory(audiences=[a, b])` makes them a member of both."""

    class Meta:
        model = Stakeholder
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    organisation = "Acme Ltd"

    @factory.post_generation
    def audiences(self, create, extracted, **kwargs):
        if create and extracted:
            Membership.objects.bulk_create([Membership(stakeholder=self, audience=a) for a in extracted])


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    stakeholder = factory.SubFactory(StakeholderFactory)
    audience = factory.SubFactory(AudienceFactory)


class CommunicationPlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CommunicationPlan

    release = factory.SubFactory(ReleaseFactory)


class MessageFactory(factory.django.DjangoModelFactory):
    """An email message at a fixed time; `MessageFactory(audiences=[a])` addresses it."""

    class Meta:
        model = Message
        skip_postgeneration_save = True

    plan = factory.SubFactory(CommunicationPlanFactory)
    name = factory.Sequence(lambda n: f"Message {n}")
    subject = "{{ release.name }} {{ release.version }}"
    body = "Hello {{ recipient.name }}"

    @factory.post_generation
    def audiences(self, create, extracted, **kwargs):
        if create and extracted:
            self.audiences.add(*extracted)


class NoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notice

    message = factory.SubFactory(MessageFactory)
    stakeholder = factory.SubFactory(StakeholderFactory)
    recipient = factory.LazyAttribute(lambda n: n.stakeholder.email.lower() if n.stakeholder else "webhook")
    occurrence = factory.Sequence(lambda n: f"factory:{n}")


# --- End of comms factories -----------------------------------------------------------
