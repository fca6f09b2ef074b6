"""REST endpoints that are not a resource: a pipeline's ci_result report (with the gate's own
token) and who the caller is. Errors have one shape: {"detail", "code", "fields"}."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.response import Response

from rollouts import permissions, transitions
from rollouts.api.auth import token_of
from rollouts.api.errors import ErrorSerializer, error
from rollouts.api.serializers import MeSerializer
from rollouts.gate_tokens import token_matches
from rollouts.models import ApiScope, Gate, GateKind
from rollouts.roles import user_roles


class CiResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pass", "fail"])
    url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


def _bearer(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class CiResultAnswerSerializer(serializers.Serializer):
    gate = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    evidence = serializers.DictField()


@extend_schema(
    tags=["gates"],
    summary="Report a CI result to a ci_result gate",
    description=(
        "For pipelines: report pass or fail, with a link and a note, to a `ci_result` gate. Authenticated with the "
        "gate's own pipeline token (`Authorization: Bearer fdg_…`, shown when the gate was added or its token "
        "rotated), not a personal API token. A passing result passes the gate; a failing one fails it (a required "
        "gate then pauses the release or starts the rollback)."
    ),
    auth=[{"GateToken": []}],
    request=CiResultSerializer,
    responses={
        200: CiResultAnswerSerializer,
        400: OpenApiResponse(ErrorSerializer, description="The result is not valid."),
        401: OpenApiResponse(ErrorSerializer, description="Missing, wrong or revoked gate token."),
        409: OpenApiResponse(ErrorSerializer, description="The gate already has a result, or its phase is not active."),
    },
    examples=[
        OpenApiExample(
            "Passed",
            value={"status": "pass", "url": "https://ci.example.com/runs/4411", "note": "e2e suite green"},
            request_only=True,
        )
    ],
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def gate_result(request, gate_id: int) -> Response:
    """A pipeline reports pass/fail for a ci_result gate with the gate's own token."""
    gate = Gate.objects.filter(pk=gate_id, kind=GateKind.CI_RESULT).first()
    # Same answer for "no such gate" and "wrong token": a token must not probe for gates.
    if gate is None or not token_matches(gate, _bearer(request)):
        return error("Missing, wrong or revoked gate token.", "not_authenticated", status.HTTP_401_UNAUTHORIZED)
    serializer = CiResultSerializer(data=request.data)
    if not serializer.is_valid():
        fields = {name: [str(e) for e in errs] for name, errs in serializer.errors.items()}
        return error("The result is not valid.", "invalid", status.HTTP_400_BAD_REQUEST, fields)
    data = serializer.validated_data
    try:
        gate = transitions.gate_record_ci_result(
            gate_id=gate.pk, passed=data["status"] == "pass", url=data.get("url", ""), note=data.get("note", "")
        )
    except transitions.TransitionError as exc:
        return error(exc.message, exc.code, exc.status_code)
    return Response({"gate": gate.pk, "name": gate.name, "status": gate.status, "evidence": gate.evidence})


@extend_schema(
    tags=["me"],
    summary="Who the caller is, and what they may do",
    description="The user behind the token or session, their roles, the token's scopes, and what the roles allow.",
    responses={200: MeSerializer},
    examples=[
        OpenApiExample(
            "A pipeline's token",
            value={
                "id": 3,
                "username": "deploy-bot",
                "name": "Deploy Bot",
                "roles": ["Release managers"],
                "auth": "token",
                "scopes": ["read", "act"],
                "token": {"id": 12, "name": "Deploy pipeline", "hint": "fd_Q2xv", "expires_at": None},
                "may": {"read": True, "plan": True, "act": True, "decide_gates": False, "tick_checklists": True},
            },
            response_only=True,
        )
    ],
)
@api_view(["GET"])
def me(request) -> Response:
    user = request.user
    token = token_of(request)
    return Response(
        {
            "id": user.pk,
            "username": user.get_username(),
            "name": user.get_full_name() or user.get_username(),
            "roles": sorted(user_roles(user)),
            "auth": "token" if token else "session",
            "scopes": list(token.scopes) if token else list(ApiScope.values),
            "token": (
                {"id": token.pk, "name": token.name, "hint": token.hint, "expires_at": token.expires_at}
                if token
                else None
            ),
            "may": {
                "read": permissions.can_view(user),
                "plan": permissions.can_plan(user),
                "act": permissions.can_act(user, None),
                "decide_gates": permissions.can_decide_gates(user),
                "tick_checklists": permissions.can_tick_checklist(user),
            },
        }
    )
