"""Named fault points for reliability tests: a pause at a point the test wants to kill in.

Off unless FLIGHTDECK_FAULTS names the point, e.g. FLIGHTDECK_FAULTS="advance.before_commit=5"
pauses 5 s inside the advance transaction, so a test can SIGKILL the worker right there.
"""

import logging
import os
import time

log = logging.getLogger("rollouts.faults")


def _parse(raw: str) -> dict[str, float]:
    points = {}
    for part in raw.split(","):
        name, _, seconds = part.partition("=")
        if name.strip():
            points[name.strip()] = float(seconds or 0)
    return points


def point(name: str) -> None:
    raw = os.environ.get("FLIGHTDECK_FAULTS", "")
    if not raw:
        return
    seconds = _parse(raw).get(name)
    if seconds:
        log.warning("fault point %s: pausing %s s", name, seconds)
        time.sleep(seconds)
