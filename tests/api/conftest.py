"""API clients: a user's personal token with chosen scopes, sent as a Bearer header."""

import pytest

from rollouts.api import tokens

ALL_SCOPES = ("read", "write", "act")


class Api:
    """The test client speaking JSON with a token (or the client's session when token is None)."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def _headers(self, headers: dict | None) -> dict:
        merged = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**merged, **(headers or {})}

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def _send(self, method: str, path: str, data=None, headers: dict | None = None):
        send = getattr(self.client, method)
        if data is None:
            return send(path, headers=self._headers(headers))
        return send(path, data, content_type="application/json", headers=self._headers(headers))

    def post(self, path: str, data=None, headers: dict | None = None):
        return self._send("post", path, data if data is not None else {}, headers)

    def patch(self, path: str, data=None, headers: dict | None = None):
        return self._send("patch", path, data, headers)

    def put(self, path: str, data=None, headers: dict | None = None):
        return self._send("put", path, data, headers)

    def delete(self, path: str, headers: dict | None = None):
        return self._send("delete", path, None, headers)


def make_token(user, scopes=ALL_SCOPES, **kwargs) -> str:
    return tokens.api_token_create(user=user, name=kwargs.pop("name", "test"), scopes=list(scopes), **kwargs)[1]


@pytest.fixture
def api_as(client):
    """api_as(user, scopes=...) → an Api speaking with a fresh token of that user."""

    def make(user, scopes=ALL_SCOPES):
        return Api(client, make_token(user, scopes))

    return make


@pytest.fixture
def api(api_as, manager):
    return api_as(manager)


@pytest.fixture
def anonymous(client):
    return Api(client, None)


# Figures a test wants in the terminal summary (the schemathesis run's number of cases).
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("API")
        for line in SUMMARY:
            terminalreporter.write_line(line)
