"""Capability URLs carry their secret in the path: a stakeholder's unsubscribe link
(/u/<token>, /u/<token>/preferences) and a person's calendar feed (/feeds/calendar/<token>.ics).
Anyone holding the link acts as its owner, so neither the access log nor an application log
may keep the token. `redact` cuts it out of a path, a request line or a Referer."""

import logging
import re

CAPABILITY_PATH = re.compile(r"(/u/|/feeds/calendar/)[^/?#\s\"']+")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    return CAPABILITY_PATH.sub(REDACTED, text) if isinstance(text, str) else text


class RedactCapabilityUrls(logging.Filter):
    """A logging filter: the formatted message and any string argument lose their tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) for k, v in record.args.items()}
        return True
