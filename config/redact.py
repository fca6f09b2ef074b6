"""Capability URLs carry their secret in the path: a stakeholder's unsubscribe link
(/u/<token>, /u/<token>/preferences) and a person's calendar feed (/feeds/calendar/<token>.ics).
Anyone holding the link acts as its owner, so no log may keep the token: config/logs.py masks
it in every application log line, config/gunicorn.py in the access and error logs."""

import re

CAPABILITY_PATH = re.compile(r"(/u/|/feeds/calendar/)[^/?#\s\"']+")
REDACTED = r"\1[redacted]"
