"""How Flightdeck logs: one line per event, as text for people or JSON for log shippers.

LOG_FORMAT=json writes one JSON object per line: time (UTC, ISO 8601), level, logger,
message, and every `extra` field the call passed (event, release_id, phase_id, actor …).
LOG_FORMAT=plain writes the same lines as text, in Celery's layout, so web, worker and beat
logs read alike (and the benchmarks keep parsing the worker log). The web process, the
Celery worker and beat all use this one configuration (config/celery.py).

Every line passes RedactSecrets first: passwords in URLs, bearer tokens, webhook secrets and
API tokens are masked, whatever a message happens to quote.
"""

import logging
import re
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from config.redact import CAPABILITY_PATH, REDACTED

PLAIN_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(name)s %(message)s"
FORMATS = {"json", "plain"}

_SECRETS = [
    # scheme://user:password@host → scheme://user:***@host
    (re.compile(r"(?P<keep>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.IGNORECASE), r"\g<keep>***@"),
    (re.compile(r"(?P<keep>\bBearer\s+)[^\s,;\"']+", re.IGNORECASE), r"\g<keep>***"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), "whsec_***"),
    (re.compile(r"\b(?P<keep>fdg?_)[A-Za-z0-9_-]{12,}"), r"\g<keep>***"),
    # /u/<token>, /feeds/calendar/<token>.ics: the link itself is the credential
    (CAPABILITY_PATH, REDACTED),
]


def redact(text: str) -> str:
    """The text with anything that looks like a credential masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def log_event(logger: logging.Logger, level: int, event: str, **fields) -> None:
    """One structured line: `event k=v …` as text, and `event` plus the fields (None left
    out) as fields of the JSON object under LOG_FORMAT=json. A field may not be named like a
    LogRecord attribute (args, msg, name …): logging refuses to overwrite those."""
    fields = {key: value for key, value in fields.items() if value is not None}
    logger.log(level, "%s %s", event, " ".join(f"{k}={v}" for k, v in fields.items()), extra={"event": event, **fields})


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter with the time first, in UTC to the millisecond."""

    def add_fields(self, log_data, record, message_dict) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)


def build_logging(*, level: str, fmt: str) -> dict:
    """The LOGGING dict for `level` and `fmt` ("json" or "plain")."""
    if fmt == "json":
        formatter = {
            "()": "config.logs.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "json_ensure_ascii": False,
        }
    else:
        formatter = {"format": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "config.logs.RedactSecrets"}},
        "formatters": {"main": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["redact"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            # Django's own handlers (console only under DEBUG, mail to ADMINS, runserver's
            # own format) give way to the one above, so every line has the same shape.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
