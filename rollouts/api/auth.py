"""Who is calling the API, and whether their token's scopes cover the request.

Authentication: a personal API token (`Authorization: Bearer fd_…` or `Token fd_…`), or the
browser session for the pages' own calls (DRF's SessionAuthentication, CSRF enforced).
Flagger cannot send custom headers easily, so its endpoints also take the token from the
webhook payload's `metadata.token`.

Authorisation is two checks, both required: the token's scopes (read for GET/HEAD/OPTIONS,
write for creating/editing/deleting, act for state-changing actions; a session has every
scope) and the user's role, through the same predicates the pages use
(rollouts/permissions.py). A token never grants more than its user's roles.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import SAFE_METHODS, BasePermission

from rollouts import permissions
from rollouts.api import tokens
from rollouts.models import ApiScope, ApiToken

KEYWORDS = ("bearer", "token")


def presented_token(request) -> str | None:
    """The token in the Authorization header; None when the header holds none of ours."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() not in KEYWORDS:
        return None
    value = value.strip()
    if not value or " " in value:
        raise AuthenticationFailed("The Authorization header must be “Bearer <token>”.", code="invalid_header")
    return value


class ApiTokenAuthentication(BaseAuthentication):
    """Personal API tokens: unknown, revoked and expired tokens are refused with 401."""

    def authenticate(self, request):
        raw = presented_token(request)
        if raw is None:
            return None
        return self.authenticate_token(raw)

    def authenticate_token(self, raw: str):
        token = tokens.token_for(raw)
        if token is None or not token.is_usable() or not token.user.is_active:
            raise AuthenticationFailed("Unknown, expired or revoked API token.", code="invalid_token")
        tokens.touch(token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="flightdeck"'


class FlaggerTokenAuthentication(ApiTokenAuthentication):
    """The header, or else the token in a Flagger webhook payload: {"metadata": {"token": "fd_…"}}."""

    def authenticate(self, request):
        raw = presented_token(request)
        if raw is None:
            data = request.data
            metadata = data.get("metadata") if isinstance(data, dict) else None
            raw = metadata.get("token") if isinstance(metadata, dict) else None
            if not isinstance(raw, str) or not raw:
                return None
        return self.authenticate_token(raw)


def required_scope(request, view) -> str:
    """What the request needs: a view's own say, else read for safe methods and write otherwise."""
    explicit = getattr(view, "required_scope", None)
    if explicit:
        return explicit
    action_scopes = getattr(view, "action_scopes", {})
    action = getattr(view, "action", None)
    if action in action_scopes:
        return action_scopes[action]
    return ApiScope.READ if request.method in SAFE_METHODS else ApiScope.WRITE


def token_of(request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


class FlightdeckAccess(BasePermission):
    """Signed in, holding a Flightdeck role, with a token scope that covers the request.

    Finer rules (who may plan, act, decide a gate …) are checked by the views with the
    predicates of rollouts/permissions.py, as the pages do.
    """

    message = "Sign in or send an API token."
    code = "not_authenticated"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        token = token_of(request)
        if token is not None:
            scope = required_scope(request, view)
            if scope not in token.scopes:
                self.message = f"This API token lacks the “{scope}” scope this request needs."
                self.code = "missing_scope"
                return False
        if not permissions.can_view(user):
            self.message = "Your account has no Flightdeck role yet. Ask an administrator for one."
            self.code = "no_role"
            return False
        return True


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "rollouts.api.auth.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "fd_…",
            "description": (
                "A personal API token from the API tokens page, as `Authorization: Bearer fd_…` "
                "(`Token fd_…` works too). Its scopes (read, write, act) narrow what its user may do."
            ),
        }


class FlaggerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "rollouts.api.auth.FlaggerTokenAuthentication"
    name = "FlaggerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "fd_…",
            "description": (
                "A personal API token with the read scope, as `Authorization: Bearer fd_…`, or, since Flagger "
                "cannot easily send headers, in the webhook payload's `metadata.token`."
            ),
        }
