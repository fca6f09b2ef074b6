"""Capability URLs (unsubscribe links, calendar feeds) keep their token out of every log."""

import logging
from datetime import timedelta
from types import SimpleNamespace

from config.gunicorn import RedactingLogger
from config.logs import RedactSecrets, redact

TOKEN = "eyJzIjo0Mn0:1uSECRETsignature"


def test_redact__cuts_tokens_out_of_capability_paths_only():
    assert redact(f"GET /u/{TOKEN} HTTP/1.1") == "GET /u/[redacted] HTTP/1.1"
    assert redact(f"https://fd.example.com/u/{TOKEN}/preferences?x=1") == (
        "https://fd.example.com/u/[redacted]/preferences?x=1"
    )
    assert redact("/feeds/calendar/AbC_-123456789012345678901.ics") == "/feeds/calendar/[redacted]"
    assert redact("/releases/checkout-2-0/") == "/releases/checkout-2-0/"


def test_gunicorn_access_log__request_line_path_and_referer_redacted():
    logger = RedactingLogger.__new__(RedactingLogger)  # atoms() reads no configuration
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/u/{TOKEN}/preferences",
        "PATH_INFO": f"/u/{TOKEN}/preferences",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://fd.example.com/u/{TOKEN}",
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    request = SimpleNamespace(headers=[("REFERER", f"https://fd.example.com/u/{TOKEN}")])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))
    assert atoms["r"] == "GET /u/[redacted]/preferences HTTP/1.1"
    assert TOKEN not in str(atoms)


def test_logging_filter__message_and_arguments_redacted():
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/u/{TOKEN}",), None)
    RedactSecrets().filter(record)
    assert record.getMessage() == "Not Found: /u/[redacted]"
