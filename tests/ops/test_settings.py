"""The operations variables: a bad value stops the start with the variable's name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of json, plain, got 'xml'"),
        ("READY_MAX_TICK_AGE", "soon", "READY_MAX_TICK_AGE must be a whole number, got 'soon'"),
        ("READY_MAX_TICK_AGE", "3", "READY_MAX_TICK_AGE must be 0 (off) or at least twice ENGINE_TICK_SECONDS (4)"),
    ],
)
def test_settings__bad_value__start_fails_naming_the_variable(tmp_path, name, value, message):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    env.update({"ENGINE_TICK_SECONDS": "2", name: value, "FLIGHTDECK_VAR_DIR": str(tmp_path / "var")})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert message in result.stderr
