"""The real OpenFeature Python SDK and its OFREP provider (openfeature-sdk and
openfeature-provider-ofrep from PyPI) against the live server: what an application sees."""

import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import ErrorCode, Reason

from flags import services
from flags.evaluation import bucket
from rollouts import transitions
from rollouts.models import Environment
from tests.flags.conftest import advance, flag_release, make_flag

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(transactional_db):
    _key, token = services.api_key_create(actor=None, environment=Environment.PRODUCTION, name="sdk")
    return token


@pytest.fixture
def flags_client(live_server, token):
    """An OpenFeature client whose provider is Flightdeck, as an application would set it up."""
    api.set_provider(OFREPProvider(base_url=live_server.url, headers_factory=lambda: {"X-API-Key": token}))
    yield api.get_client("checkout-service")
    api.clear_providers()


@pytest.fixture
def typed_flags(transactional_db):
    make_flag(key="new-checkout", fixed_exposure=100)
    make_flag(
        key="button-colour",
        type="string",
        variants={"blue": "blue", "green": "green"},
        on="green",
        off="blue",
        fixed_exposure=100,
    )
    make_flag(
        key="max-items", type="integer", variants={"many": 50, "few": 10}, on="many", off="few", fixed_exposure=100
    )
    make_flag(key="discount", type="float", variants={"full": 3, "none": 0}, on="full", off="none", fixed_exposure=100)
    make_flag(
        key="layout",
        type="object",
        variants={"new": {"columns": 2, "dense": True}, "old": {"columns": 1}},
        on="new",
        off="old",
        fixed_exposure=100,
    )


def user(key="user-1", **attributes):
    return EvaluationContext(targeting_key=key, attributes=attributes)


def test_sdk__every_type__values_reasons_and_variants(flags_client, typed_flags):
    boolean = flags_client.get_boolean_details("new-checkout", False, user())
    assert (boolean.value, boolean.variant, boolean.reason, boolean.error_code) == (True, "on", Reason.STATIC, None)
    assert boolean.flag_metadata == {"environment": "production", "exposure": 100}
    assert flags_client.get_string_value("button-colour", "red", user()) == "green"
    assert flags_client.get_integer_value("max-items", 0, user()) == 50
    discount = flags_client.get_float_details("discount", 0.0, user())
    assert discount.value == 3.0 and isinstance(discount.value, float) and discount.error_code is None
    assert flags_client.get_object_value("layout", {}, user()) == {"columns": 2, "dense": True}


def test_sdk__release_flag__split_and_metadata_follow_the_phase(flags_client, manager):
    release = flag_release(manager)
    make_flag(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    advance(release, manager)  # production at 10%
    keys = [f"user-{i}" for i in range(40)]
    for key in keys:
        details = flags_client.get_boolean_details("new-checkout", False, user(key))
        assert details.reason == Reason.SPLIT
        assert details.value == (bucket("new-checkout", key) <= 10)
        assert details.flag_metadata["release"] == "flagged"
        assert details.flag_metadata["phase"] == "Canary"
    # The rollback commits: the next evaluation answers off, for everyone.
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="errors")
    for key in keys:
        details = flags_client.get_boolean_details("new-checkout", True, user(key))
        assert (details.value, details.variant, details.reason) == (False, "off", Reason.DISABLED)


def test_sdk__flag_not_found__default_value_and_error(flags_client, typed_flags):
    details = flags_client.get_boolean_details("no-such-flag", True, user())
    assert details.value is True
    assert details.error_code == ErrorCode.FLAG_NOT_FOUND
    assert details.reason == Reason.ERROR


def test_sdk__missing_targeting_key__default_value_and_error(flags_client):
    make_flag(key="gradual", fixed_exposure=30)
    details = flags_client.get_boolean_details("gradual", True, EvaluationContext(attributes={"plan": "pro"}))
    assert details.value is True
    assert details.error_code == ErrorCode.TARGETING_KEY_MISSING


def test_sdk__type_mismatch__default_value_and_error(flags_client, typed_flags):
    details = flags_client.get_integer_details("button-colour", 7, user())
    assert details.value == 7
    assert details.error_code == ErrorCode.TYPE_MISMATCH


def test_sdk__bad_api_key__default_value_and_general_error(live_server, typed_flags):
    api.set_provider(OFREPProvider(base_url=live_server.url, headers_factory=lambda: {"X-API-Key": "fdo_wrong"}))
    try:
        details = api.get_client().get_boolean_details("new-checkout", False, user())
    finally:
        api.clear_providers()
    assert details.value is False
    assert details.error_code == ErrorCode.GENERAL
    assert details.error_message == "unauthorized"


def test_sdk__bearer_header__works_too(live_server, token, typed_flags):
    provider = OFREPProvider(base_url=live_server.url, headers_factory=lambda: {"Authorization": f"Bearer {token}"})
    api.set_provider(provider)
    try:
        assert api.get_client().get_boolean_value("new-checkout", False, user()) is True
    finally:
        api.clear_providers()
