from django.urls import path

from rollouts.api import views

urlpatterns = [
    path("gates/<int:gate_id>/result", views.gate_result, name="api_gate_result"),
]
