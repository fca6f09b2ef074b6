"""REST endpoints pipelines call. Errors have one shape: {"detail", "code", "fields"}."""

from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response

from rollouts import transitions
from rollouts.gate_tokens import token_matches
from rollouts.models import Gate, GateKind


class CiResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pass", "fail"])
    url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


def error(detail: str, code: str, http_status: int, fields: dict | None = None) -> Response:
    return Response({"detail": detail, "code": code, "fields": fields or {}}, status=http_status)


def _bearer(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@api_view(["POST"])
@authentication_classes([])
@permission_classes([])
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
