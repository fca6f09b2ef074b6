"""The short public links in every notice, included under "u/" by config/urls.py:
/u/<token> unsubscribes (one-click POST, RFC 8058), /u/<token>/preferences chooses."""

from django.urls import path

from comms import views

app_name = "comms_public"

urlpatterns = [
    path("<str:token>", views.unsubscribe, name="unsubscribe"),
    path("<str:token>/preferences", views.preferences, name="preferences"),
]
