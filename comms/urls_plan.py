"""The communication plan editor and the outbox, included under "comms/" by config/urls.py."""

from django.urls import path

from comms import views_plan

app_name = "comms_plan"

urlpatterns = [
    path("releases/<slug:slug>/plan/", views_plan.plan, name="plan"),
    path("releases/<slug:slug>/plan/preview", views_plan.preview, name="preview"),
    path("releases/<slug:slug>/plan/messages/add/", views_plan.message_add, name="message_add"),
    path("releases/<slug:slug>/plan/messages/<int:message_id>/edit/", views_plan.message_edit, name="message_edit"),
    path(
        "releases/<slug:slug>/plan/messages/<int:message_id>/delete/",
        views_plan.message_delete,
        name="message_delete",
    ),
    path(
        "releases/<slug:slug>/plan/messages/<int:message_id>/require/",
        views_plan.message_require,
        name="message_require",
    ),
    path("outbox/", views_plan.outbox, name="outbox"),
    path("outbox/<int:notice_id>/retry/", views_plan.notice_retry, name="notice_retry"),
]
