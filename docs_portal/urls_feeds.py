from django.urls import path, re_path

from docs_portal import feed_views as views

app_name = "feeds"

urlpatterns = [
    path("calendar/", views.calendar_page, name="calendar"),
    path("calendar/<int:feed_id>/revoke/", views.calendar_revoke, name="calendar_revoke"),
    # secrets.token_urlsafe(32) makes 43 characters of A–Z a–z 0–9 - _.
    re_path(r"^calendar/(?P<token>[A-Za-z0-9_-]{20,128})\.ics$", views.calendar_feed, name="calendar_feed"),
]
