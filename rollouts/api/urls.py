"""The rollouts part of the API; config/api_urls.py puts every app's part under /api/v1/."""

from django.urls import path

from rollouts.api import views, viewsets, webhooks

# (prefix, viewset, basename) for the one router of config/api_urls.py.
routes = [
    ("releases", viewsets.ReleaseViewSet, "api-release"),
    ("phases", viewsets.PhaseViewSet, "api-phase"),
    ("gates", viewsets.GateViewSet, "api-gate"),
    ("rollback-steps", viewsets.RollbackStepViewSet, "api-rollback-step"),
    ("rollback-runs", viewsets.RollbackRunViewSet, "api-rollback-run"),
    ("events", viewsets.EventViewSet, "api-event"),
    ("webhooks", webhooks.WebhookSubscriptionViewSet, "api-webhook"),
    ("webhook-deliveries", webhooks.WebhookDeliveryViewSet, "api-webhook-delivery"),
]

urlpatterns = [
    path("gates/<int:gate_id>/result", views.gate_result, name="api_gate_result"),
    path("me", views.me, name="api_me"),
]
