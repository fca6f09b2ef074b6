"""What every Flightdeck API view shares: permission checks in the pages' words, input
checked by the pages' forms, and the documented error answers."""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, viewsets

from rollouts.api.errors import ErrorSerializer

# An id in a path that may also hold a slug or key: ASCII digits within the database's range.
NUMERIC_ID = re.compile(r"[0-9]{1,18}")

ERROR_EXAMPLES = {
    400: (
        "Bad input",
        {"detail": "exposure_percent: Exposure must be between 0 and 100%.", "code": "invalid"},
        {"exposure_percent": ["Exposure must be between 0 and 100%."]},
    ),
    401: ("No or a bad token", {"detail": "Unknown, expired or revoked API token.", "code": "invalid_token"}, {}),
    403: ("Not allowed", {"detail": "Only release managers can run releases.", "code": "permission_denied"}, {}),
    404: ("No such object", {"detail": "No Release matches the given query.", "code": "not_found"}, {}),
    409: (
        "The state does not allow it",
        {"detail": "Phase “Canary 1%” was already advanced.", "code": "already_done"},
        {},
    ),
    422: (
        "Idempotency-Key reused",
        {
            "detail": "This Idempotency-Key was used for another request (POST /api/v1/releases/7/pause) in the "
            "last 24 hours. Use a new key for a new request.",
            "code": "idempotency_key_reused",
        },
        {},
    ),
}
ERROR_DESCRIPTIONS = {
    400: "The input is not valid; `fields` names each field at fault.",
    401: "No token or session, or an unknown, expired or revoked token.",
    403: "The user's role, the token's scopes or a rule of the domain does not allow it.",
    404: "No such object.",
    409: "The object's state does not allow it now (`already_done` when it already happened).",
    422: "The Idempotency-Key was used for a different request.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Documented error answers, each with an example in the one error shape."""
    documented = {}
    for code in sorted({401, 403, *codes}):
        name, example, fields = ERROR_EXAMPLES[code]
        documented[code] = OpenApiResponse(
            ErrorSerializer,
            description=ERROR_DESCRIPTIONS[code],
            examples=[OpenApiExample(name, value={**example, "fields": fields}, response_only=True)],
        )
    return documented


READ_ERRORS = errors(404)
LIST_ERRORS = errors(400)
WRITE_ERRORS = errors(400, 404, 409)
CREATE_ERRORS = errors(400, 409, 422)
ACTION_ERRORS = errors(400, 404, 409, 422)


def form_fields(form) -> dict[str, list[str]]:
    return {
        ("non_field_errors" if name == "__all__" else name): [str(message) for message in messages]
        for name, messages in form.errors.items()
    }


def clean_with(form_class, data: dict, **kwargs) -> dict:
    """The form the pages use decides what is valid; its errors become a 400 naming the fields."""
    form = form_class(data=data, **kwargs)
    if not form.is_valid():
        raise exceptions.ValidationError(form_fields(form))
    return form.cleaned_data


def remap_fields(exc: DjangoValidationError, mapping) -> exceptions.ValidationError:
    """A service's field errors under the API's field names (mapping: name -> API name)."""
    fields: dict[str, list[str]] = {}
    for name, messages in exc.message_dict.items():
        key = mapping(name)
        fields.setdefault(key, []).extend(str(m) for m in messages)
    return exceptions.ValidationError(fields)


class FlightdeckViewSet(viewsets.GenericViewSet):
    """A viewset whose finer permission checks read like the pages' (rollouts/permissions.py)."""

    # Token scope per action, where the method alone does not say (see rollouts/api/auth.py).
    action_scopes: dict[str, str] = {}
    required_scope: str | None = None

    def require(self, allowed: bool, message: str) -> None:
        if not allowed:
            raise exceptions.PermissionDenied(message)

    def validated(self, serializer_class, data, **kwargs) -> dict:
        serializer = serializer_class(data=data, context=self.get_serializer_context(), **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
