"""REST API figures for bench/run.py: the queries of one page of GET /api/v1/releases.

Read with a personal API token (read scope), in-process, after one warm-up request (which
also writes the token's last use, throttled to once a minute). Goal: the same count with
20 and with 2,000 releases, at most 8.
"""

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

PATH = "/api/v1/releases"


def list_queries(user, log=None) -> int:
    from rollouts.api import tokens

    row, raw = tokens.api_token_create(user=user, name="bench", scopes=["read"])
    headers = {"Authorization": f"Bearer {raw}"}
    client = Client()
    try:
        client.get(PATH, headers=headers)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(PATH, headers=headers)
    finally:
        row.delete()
    if response.status_code != 200:
        raise RuntimeError(f"GET {PATH} in-process answered {response.status_code}, expected 200")
    if log is not None:
        log(f"api release list ({response.json()['count']} releases): {len(ctx.captured_queries)} queries")
    return len(ctx.captured_queries)
