"""OpenFeature Remote Evaluation Protocol (OFREP) endpoints under /ofrep/v1/.

Any OpenFeature SDK with an OFREP provider evaluates Flightdeck flags through these. They
authenticate with an API key (X-API-Key or Authorization: Bearer), never a session or CSRF
token, and read only the in-memory snapshot (flags/snapshot.py): no database query per
evaluation. Plain Django views returning prebuilt JSON bytes: DRF would only add cost.
Response shapes follow the OFREP OpenAPI definition (github.com/open-feature/protocol).
"""

import hashlib
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.http import parse_etags
from django.views.decorators.csrf import csrf_exempt

from flags import evaluation, services, snapshot
from flags.evaluation import FLAG_NOT_FOUND, GENERAL, EvaluationError, dumps, error_body

log = logging.getLogger("flags.ofrep")

JSON = "application/json"
MIN_POLLING_INTERVAL_MS = 2000  # the freshness window: a change reaches every process within it
CONFIGURATION = {
    "name": "Flightdeck",
    "capabilities": {
        "cacheInvalidation": {"polling": {"enabled": True, "minPollingIntervalMs": MIN_POLLING_INTERVAL_MS}},
        "flagEvaluation": {"supportedTypes": ["boolean", "string", "int", "float", "object"]},
        # Rollbacks and kill switches apply at once: providers should ask, not cache.
        "caching": {"enabled": False},
    },
}
CONFIGURATION_BODY = dumps(CONFIGURATION).encode()
CONFIGURATION_ETAG = f'"{hashlib.sha256(CONFIGURATION_BODY).hexdigest()[:32]}"'
UNAUTHORIZED = (
    "Send a Flightdeck API key as X-API-Key or Authorization: Bearer; this one is missing, unknown or revoked."
)


def _json(body: bytes, status: int = 200) -> HttpResponse:
    return HttpResponse(body, content_type=JSON, status=status)


def _token(request: HttpRequest) -> str:
    token = request.META.get("HTTP_X_API_KEY", "")
    if token:
        return token.strip()
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _authenticate(request: HttpRequest, snap: snapshot.Snapshot) -> snapshot.ApiKeyEntry | None:
    token = _token(request)
    if not token:
        return None
    entry = snap.api_keys.get(services.token_digest(token))
    if entry is not None:
        services.api_key_touch(entry.id)
    return entry


def _unauthorized(key: str | None = None) -> HttpResponse:
    response = _json(error_body(key, GENERAL, UNAUTHORIZED), 401)
    response["WWW-Authenticate"] = 'Bearer realm="flightdeck-ofrep"'
    return response


def _method_not_allowed(allowed: str) -> HttpResponse:
    response = _json(error_body(None, GENERAL, f"Use {allowed}."), 405)
    response["Allow"] = allowed
    return response


def _parse(request: HttpRequest) -> tuple[str | None, dict]:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise EvaluationError(evaluation.PARSE_ERROR, "The request body is too large.") from None
    return evaluation.parse_request(raw)


def _not_modified(request: HttpRequest, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    tags = {t.removeprefix("W/") for t in parse_etags(header)}
    return "*" in tags or etag in tags


@csrf_exempt
def evaluate_flag(request: HttpRequest, key: str) -> HttpResponse:
    """POST /ofrep/v1/evaluate/flags/<key>: one flag for one context."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        snap = snapshot.current()
        entry = _authenticate(request, snap)
        if entry is None:
            return _unauthorized(key)
        targeting_key, context = _parse(request)
        flag = snap.flags.get(key)
        if flag is None:
            return _json(error_body(key, FLAG_NOT_FOUND, f"There is no flag “{key}”."), 404)
        return _json(evaluation.evaluate(flag, entry.environment, targeting_key, context).body)
    except EvaluationError as exc:
        return _json(error_body(key, exc.code, exc.details), 400)
    except Exception:
        log.exception("ofrep.evaluation_failed flag=%s", key)
        return _json(error_body(key, GENERAL, "Flightdeck could not evaluate this flag; its log says why."), 500)


@csrf_exempt
def evaluate_flags(request: HttpRequest) -> HttpResponse:
    """POST /ofrep/v1/evaluate/flags: every flag for one context, with an ETag.

    The ETag covers the configuration, the key's environment and the context, so a client
    polling with If-None-Match gets 304 until a flag, segment or followed release changes.
    """
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        snap = snapshot.current()
        entry = _authenticate(request, snap)
        if entry is None:
            return _unauthorized()
        targeting_key, context = _parse(request)
        seed = f"{snap.digest}|{entry.environment}|{evaluation.canonical(context)}"
        etag = f'"{hashlib.sha256(seed.encode()).hexdigest()[:32]}"'
        if _not_modified(request, etag):
            response = HttpResponse(status=304)
            response["ETag"] = etag
            return response
        items = []
        for key, flag in snap.flags.items():
            try:
                items.append(evaluation.evaluate(flag, entry.environment, targeting_key, context).body)
            except EvaluationError as exc:
                items.append(error_body(key, exc.code, exc.details))
        response = _json(b'{"flags":[' + b",".join(items) + b"]}")
        response["ETag"] = etag
        return response
    except EvaluationError as exc:
        return _json(error_body(None, exc.code, exc.details), 400)
    except Exception:
        log.exception("ofrep.bulk_evaluation_failed")
        return _json(error_body(None, GENERAL, "Flightdeck could not evaluate the flags; its log says why."), 500)


@csrf_exempt
def configuration(request: HttpRequest) -> HttpResponse:
    """GET /ofrep/v1/configuration: what this flag management system supports."""
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed("GET")
    if _authenticate(request, snapshot.current()) is None:
        return _unauthorized()
    response = HttpResponse(status=304) if _not_modified(request, CONFIGURATION_ETAG) else _json(CONFIGURATION_BODY)
    response["ETag"] = CONFIGURATION_ETAG
    return response
