"""Production hardening: DJANGO_ENV=production passes `check --deploy`, refuses to start
unsafely, and answers with secure cookies and headers; the Content-Security-Policy keeps
scripts strict everywhere; an error never shows settings or a traceback."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import path

from config import urls as site_urls

ROOT = Path(__file__).resolve().parents[2]
HOST = "flightdeck.example.com"
SERVICES = {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}
SECURITY_VARIABLES = {
    "DJANGO_ENV",
    "DEBUG",
    "SECRET_KEY",
    "FLIGHTDECK_REQUIRE_SECRET_KEY",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SITE_URL",
}


def production_env(**overrides: str) -> dict[str, str]:
    """What an operator sets: a long random key, the public host name and address."""
    env = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
        "SITE_URL": f"https://{HOST}",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SERVICES | SECURITY_VARIABLES}
    clean.update(env)
    clean["FLIGHTDECK_VAR_DIR"] = str(ROOT / "var" / "test-settings")
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_check_deploy__production_environment__passes_without_a_warning():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "secret_key",
    [None, "", "flightdeck-insecure-development-key-change-me"],
    ids=["unset", "empty", "development-key"],
)
def test_start__production_without_a_real_secret_key__fails_naming_secret_key(secret_key):
    env = production_env(SECRET_KEY=secret_key)
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set to a long random value when DJANGO_ENV=production" in result.stderr


def test_start__production_with_debug_on__fails_naming_debug():
    result = manage("check", env=production_env(DEBUG="true"))
    assert result.returncode != 0
    assert "DEBUG must be off when DJANGO_ENV=production" in result.stderr


def test_start__unknown_django_env__fails_naming_the_variable():
    result = manage("check", env={"DJANGO_ENV": "staging"})
    assert result.returncode != 0
    assert "DJANGO_ENV must be one of development, production, got 'staging'" in result.stderr


# Requests answered by the production settings, from inside a `manage.py shell`.
PROBE = """
import json
from django.test import Client
client = Client(HTTP_HOST="flightdeck.example.com")
plain = client.get("/accounts/login/")
secure = client.get("/accounts/login/", secure=True)
proxied = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "plain": [plain.status_code, plain.headers.get("Location", "")],
    "secure": {"status": secure.status_code, "headers": dict(secure.headers),
               "cookies": {name: secure.cookies[name].output() for name in secure.cookies}},
    "proxied": proxied.status_code,
}))
"""


def probe(env: dict[str, str]) -> dict:
    result = manage("shell", "-c", PROBE, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production__plain_http__redirected_to_https_and_answered_with_hsts_and_secure_cookies():
    # When a browser asks for the sign-in page in production
    seen = probe(production_env())

    # Then plain HTTP is sent to HTTPS
    assert seen["plain"] == [301, f"https://{HOST}/accounts/login/"]
    # And over HTTPS the page comes with HSTS, no framing, no sniffing, a referrer policy
    headers = seen["secure"]["headers"]
    assert seen["secure"]["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    # And the CSRF cookie is Secure, HttpOnly and SameSite=Lax
    csrf = seen["secure"]["cookies"]["csrftoken"]
    assert "Secure" in csrf and "HttpOnly" in csrf and "SameSite=Lax" in csrf


def test_production__tls_ending_proxy_header__trusted_only_when_configured():
    # Without SECURE_PROXY_SSL_HEADER a client's own X-Forwarded-Proto changes nothing
    assert probe(production_env())["proxied"] == 301
    # With it, the proxy's word that the request came over HTTPS is taken
    assert probe(production_env(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"))["proxied"] == 200


def test_start__bad_proxy_header_name__fails_naming_the_variable():
    result = manage("check", env=production_env(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https"))
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be a header name" in result.stderr


def test_development__no_django_env__starts_as_before_over_plain_http():
    # Given no environment at all (the embedded defaults)
    assert manage("check", env={}).returncode == 0

    # Then the sign-in page answers over plain HTTP, without HSTS, with the usual cookie
    seen = probe({"ALLOWED_HOSTS": HOST})
    assert seen["plain"][0] == 200
    assert "Strict-Transport-Security" not in seen["secure"]["headers"]
    csrf = seen["secure"]["cookies"]["csrftoken"]
    assert "Secure" not in csrf and "HttpOnly" in csrf and "SameSite=Lax" in csrf


def test_development__secure_cookies_variable__still_makes_cookies_secure():
    csrf = probe({"ALLOWED_HOSTS": HOST, "SECURE_COOKIES": "true"})["secure"]["cookies"]["csrftoken"]
    assert "; Secure" in csrf


# --- Content-Security-Policy ------------------------------------------------------------


def directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("url", ["/accounts/login/", "/", "/api/v1/docs/", "/api/v1/redoc/"])
def test_csp__page__scripts_only_from_this_site_no_inline_no_eval(client, manager, url):
    if url != "/accounts/login/":
        client.force_login(manager)
    response = client.get(url)
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    for name, values in policy.items():
        if name.startswith("script-src") or name == "default-src":
            assert "'unsafe-inline'" not in values and "'unsafe-eval'" not in values, (name, values)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "style-src-elem" not in policy or url == "/api/v1/redoc/"


def test_csp__swagger_ui__start_up_script_is_a_file_not_inline(client):
    page = client.get("/api/v1/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline <script> in the Swagger UI page"
    assert "<style" not in page
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


# --- Error pages ------------------------------------------------------------------------


def boom(request):
    raise RuntimeError("database password is hunter2")


urlpatterns = [path("boom/", boom), *site_urls.urlpatterns]


@pytest.mark.urls(__name__)
def test_error__unhandled_with_debug_off__plain_500_page_without_settings_or_traceback(client, settings):
    # Given DEBUG off (as production forces)
    settings.DEBUG = False
    client.raise_request_exception = False

    # When a page fails
    response = client.get("/boom/")

    # Then the visitor gets the plain error page, and nothing of the inside
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page
    for leak in ("hunter2", "RuntimeError", "Traceback", settings.SECRET_KEY, "DATABASES", "SECRET_KEY"):
        assert leak not in page, leak
