"""One error shape for every API answer that is not a success:

    {"detail": "what went wrong, for people", "code": "for_programs", "fields": {"name": ["…"]}}

`fields` names the input at fault (dotted for nested input: "config.url"), and is empty
when no single input is. The domain's own refusals map onto HTTP as the pages map them:
a TransitionError keeps its status (409 invalid or already done, 403 a domain rule); a
service's ValidationError is 400 when it names fields and 409 when it is about the state
the object is in ("you cannot edit a release that is completed").
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.http import Http404, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from rollouts.transitions import TransitionError

log = logging.getLogger("rollouts.api")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in a sentence for people.")
    code = serializers.CharField(help_text="A stable code for programs, such as `already_done` or `invalid`.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Problems per input field (dotted for nested input); empty when no single field is at fault.",
    )


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this."
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


def body(detail: str, code: str, fields: dict | None = None) -> dict:
    return {"detail": detail, "code": code, "fields": fields or {}}


def error(detail: str, code: str, http_status: int, fields: dict | None = None, headers=None) -> Response:
    return Response(body(detail, code, fields), status=http_status, headers=headers)


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field.sub.0": ["message", …]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for i, item in enumerate(detail):
                if item:
                    for k, v in _flatten(item, f"{prefix}.{i}" if prefix else str(i)).items():
                        out.setdefault(k, []).extend(v)
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def _summary(fields: dict[str, list[str]]) -> str:
    if not fields:
        return "The input is not valid."
    name, messages = next(iter(fields.items()))
    first = messages[0] if messages else "not valid"
    text = first if name == "non_field_errors" else f"{name}: {first}"
    more = len(fields) - 1
    return text + (f" (and {more} more field{'s' if more > 1 else ''})" if more else "")


def validation_response(fields: dict[str, list[str]]) -> Response:
    return error(_summary(fields), "invalid", status.HTTP_400_BAD_REQUEST, fields)


def django_validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    return {
        ("non_field_errors" if name == "__all__" else name): [str(m) for m in messages]
        for name, messages in exc.message_dict.items()
    }


def exception_handler(exc, context):
    if isinstance(exc, TransitionError):
        return error(exc.message, exc.code, exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return validation_response(django_validation_fields(exc))
        codes = [getattr(exc, "code", None)] + [getattr(e, "code", None) for e in exc.error_list]
        code = next((c for c in codes if c), "conflict")
        return error(" ".join(exc.messages), code, status.HTTP_409_CONFLICT)
    if isinstance(exc, ProtectedError):
        return error("Other records still depend on this one.", "protected", status.HTTP_409_CONFLICT)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if str(exc) else None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) if str(exc) else None)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        set_rollback()
        if isinstance(exc, exceptions.ValidationError):
            return validation_response(_flatten(exc.detail))
        detail = exc.detail
        if isinstance(detail, list | dict):  # an APIException raised with structured detail
            fields = _flatten(detail)
            return error(_summary(fields), exc.default_code, exc.status_code, fields, headers)
        return error(str(detail), getattr(detail, "code", None) or exc.default_code, exc.status_code, None, headers)
    if settings.DEBUG:
        return None  # Django's debug page says more
    log.exception("api.unexpected_error view=%s", type(context.get("view")).__name__)
    set_rollback()
    return error(
        "Flightdeck hit an unexpected error; it is logged. Try again, or tell your administrator.",
        "server_error",
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _answered(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.func is not not_found


def not_found(request, rest: str = ""):
    """Anything under /api/v1/ that no endpoint answers: the same JSON error as the rest.

    A missing or extra trailing slash is forgiven with a 308 (method and body kept) to the
    address that answers: resources have none, the schema and docs pages have one.
    """
    path = request.path
    other = path.rstrip("/") if path.endswith("/") else path + "/"
    if other and _answered(other):
        query = request.META.get("QUERY_STRING", "")
        response = JsonResponse(
            body(f"This endpoint is at {other}.", "moved"), status=status.HTTP_308_PERMANENT_REDIRECT
        )
        response["Location"] = other + (f"?{query}" if query else "")
        return response
    return JsonResponse(body("No API endpoint at this address.", "not_found"), status=status.HTTP_404_NOT_FOUND)
