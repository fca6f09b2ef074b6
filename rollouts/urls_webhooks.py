"""Webhook pages, included under "webhooks/" by rollouts/urls.py."""

from django.urls import path

from rollouts import views_webhooks as views

urlpatterns = [
    path("", views.webhook_list, name="webhook_list"),
    path("new/", views.webhook_create, name="webhook_create"),
    path("<int:subscription_id>/", views.webhook_detail, name="webhook_detail"),
    path("<int:subscription_id>/disable/", views.webhook_disable, name="webhook_disable"),
    path("<int:subscription_id>/enable/", views.webhook_enable, name="webhook_enable"),
    path("<int:subscription_id>/rotate-secret/", views.webhook_rotate_secret, name="webhook_rotate_secret"),
]
