"""Sign-in throttling (django-axes): wrong passwords for one account from one address lock
that pair out for a while, with a page that says so; nobody else is locked out with it."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from config.security import client_ip
from rollouts.api.tokens import api_token_create

LOGIN = "/accounts/login/"
HOME = "192.0.2.10"
ELSEWHERE = "198.51.100.7"
WRONG = "not-the-password-1"


def attempt(username: str, password: str, address: str = HOME):
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password})


def fail_until_locked(username: str, address: str = HOME) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = attempt(username, WRONG, address)
        assert response.status_code in (200, 429)  # the form again, then the lockout page


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/"


def test_login__right_password__signs_in(manager, password):
    assert signed_in(attempt("manager", password))


def test_login__wrong_passwords_up_to_the_limit__locked_out_even_with_the_right_password(manager, password):
    # Given four wrong passwords, the form still answers and says only that the password is wrong
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = attempt("manager", WRONG)
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()

    # When the fifth is wrong as well
    fifth = attempt("manager", WRONG)

    # Then the lockout page answers, and the right password no longer helps from there
    assert fifth.status_code == 429
    sixth = attempt("manager", password)
    assert sixth.status_code == 429
    page = sixth.content.decode()
    assert "Sign-in locked for a while" in page
    assert "Too many failed sign-ins" in page
    assert f"from this address is locked for {settings.AXES_COOLOFF_MINUTES} minutes" in page
    assert "manage.py axes_reset_username manager" in page
    assert "Traceback" not in page
    assert "sessionid" not in sixth.cookies


def test_lockout_page__after_failed_attempts__shows_no_password(manager, password):
    fail_until_locked("manager")
    page = attempt("manager", password).content.decode()
    assert password not in page and WRONG not in page


def test_login__locked_at_one_address__same_user_signs_in_from_another(manager, password):
    fail_until_locked("manager", HOME)
    assert attempt("manager", password, HOME).status_code == 429
    assert signed_in(attempt("manager", password, ELSEWHERE))


def test_login__one_user_locked__other_users_at_that_address_sign_in(manager, support, password):
    fail_until_locked("manager", HOME)
    assert signed_in(attempt("support", password, HOME))


def test_login__after_the_cool_off__signs_in_again(manager, password):
    # Given a lockout
    with time_machine.travel("2026-03-02 09:00:00+00:00", tick=False) as traveller:
        fail_until_locked("manager")
        assert attempt("manager", password).status_code == 429

        # When a minute is left of the cool-off, still locked
        traveller.shift(timedelta(minutes=settings.AXES_COOLOFF_MINUTES - 1))
        assert attempt("manager", password).status_code == 429

        # Then once it is over, the right password works again
        traveller.shift(timedelta(minutes=1, seconds=1))
        assert signed_in(attempt("manager", password))


def test_login__success_before_the_limit__counts_from_zero_again(manager, password):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt("manager", WRONG)
    assert signed_in(attempt("manager", password))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt("manager", WRONG).status_code == 200
    assert signed_in(attempt("manager", password))


def test_axes_reset_username__admin_unlocks__user_signs_in_at_once(manager, password):
    fail_until_locked("manager")
    call_command("axes_reset_username", "manager")
    assert signed_in(attempt("manager", password))


def test_api_token__user_locked_out_of_the_form__token_still_works(manager, password):
    fail_until_locked("manager")
    _, secret = api_token_create(user=manager, name="ci", scopes=["read"])
    response = Client(REMOTE_ADDR=HOME).get("/api/v1/releases", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header", "count", "meta", "expected"),
    [
        ("", 1, {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}, "10.0.0.2"),  # no header configured: ignored
        ("X-Forwarded-For", 1, {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}, "203.0.113.5"),
        ("X-Forwarded-For", 1, {"HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.5"}, "203.0.113.5"),  # left is the client's
        ("X-Forwarded-For", 2, {"HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.5, 10.0.0.9"}, "203.0.113.5"),
        ("X-Real-IP", 1, {"HTTP_X_REAL_IP": "2001:db8::1"}, "2001:db8::1"),
        ("X-Real-IP", 1, {}, "10.0.0.2"),  # not through the proxy
        ("X-Real-IP", 1, {"HTTP_X_REAL_IP": "not-an-address"}, "10.0.0.2"),
    ],
)
def test_client_ip__proxy_header__trusted_only_as_configured(settings, rf, header, count, meta, expected):
    settings.CLIENT_IP_HEADER = header
    settings.CLIENT_IP_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", **meta)
    assert client_ip(request) == expected


def test_login__behind_proxy__lockout_follows_the_forwarded_address(settings, manager, password):
    # Given a proxy that puts the client's address in X-Real-IP (all requests come from it)
    settings.CLIENT_IP_HEADER = "X-Real-IP"
    proxy = "10.0.0.2"

    def through_proxy(client_address, secret):
        return Client(REMOTE_ADDR=proxy, HTTP_X_REAL_IP=client_address).post(
            LOGIN, {"username": "manager", "password": secret}
        )

    # When one client fails until locked
    for _ in range(settings.AXES_FAILURE_LIMIT):
        through_proxy(HOME, WRONG)

    # Then that client is locked and another behind the same proxy is not
    assert through_proxy(HOME, password).status_code == 429
    assert signed_in(through_proxy(ELSEWHERE, password))
