"""Configuration comes from the environment; a bad value stops the start with its name."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    clean.update(env)
    clean["FLIGHTDECK_VAR_DIR"] = str(ROOT / "var" / "test-settings")
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL must start with one of"),
        ("CELERY_BROKER_URL", "amqp://guest@localhost//", "CELERY_BROKER_URL must start with one of"),
        ("DB_CONN_MAX_AGE", "forever", "DB_CONN_MAX_AGE must be a whole number, got 'forever'"),
        ("DEBUG", "maybe", "DEBUG must be one of true/false"),
        ("EMAIL_URL", "http://mail", "EMAIL_URL must start with smtp://"),
        ("ENGINE_TICK_SECONDS", "0.1", "ENGINE_TICK_SECONDS must be at least 0.5"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be DEBUG, INFO"),
        ("DASHBOARD_GROUP_LIMIT", "0", "DASHBOARD_GROUP_LIMIT must be at least 1"),
        ("SITE_URL", "flightdeck.example.com", "SITE_URL must start with one of http://, https://"),
        ("EMAIL_PORT", "seventy", "EMAIL_PORT must be a whole number"),
        ("EMAIL_USE_TLS", "maybe", "EMAIL_USE_TLS must be one of true/false"),
    ],
)
def test_settings__bad_value__start_fails_naming_the_variable(name, value, message):
    env = {name: value}
    if name.startswith("EMAIL_") and name != "EMAIL_URL":
        env["EMAIL_HOST"] = "127.0.0.1"
    result = start_with(env)
    assert result.returncode != 0
    assert message in result.stderr


def test_settings__no_environment__embedded_defaults_start():
    result = start_with({})
    assert result.returncode == 0, result.stderr
    assert (ROOT / "var" / "test-settings" / "mail").is_dir()
    assert (ROOT / "var" / "test-settings" / "celery" / "queue").is_dir()


def test_env_example__lists_every_variable_the_settings_read():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    procfile = (ROOT / "Procfile").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', settings_source)) | set(re.findall(r"\$\{([A-Z_]+)", procfile))
    for module in (ROOT / "rollouts").glob("*.py"):
        read |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', module.read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "found no variables: the pattern is broken"
    assert read - listed == set(), f"missing from .env.example: {sorted(read - listed)}"
    assert listed - read == set(), f"listed but never read: {sorted(listed - read)}"


def test_settings__email_host_variables__smtp_backend():
    env = {"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": "587", "EMAIL_USE_TLS": "true", "EMAIL_HOST_USER": "fd"}
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    clean.update(env, FLIGHTDECK_VAR_DIR=str(ROOT / "var" / "test-settings"))
    code = "from django.conf import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "django.core.mail.backends.smtp.EmailBackend mail.example.com 587 True" in result.stdout, result.stderr
