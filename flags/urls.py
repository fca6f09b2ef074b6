"""Flag pages under /flags/ (app_name "flags")."""

from django.urls import path

from flags import views

app_name = "flags"

urlpatterns = [
    path("", views.flag_list, name="list"),
    path("new/", views.flag_create, name="create"),
    path("segments/", views.segment_list, name="segment_list"),
    path("segments/new/", views.segment_create, name="segment_create"),
    path("segments/<slug:key>/", views.segment_edit, name="segment_edit"),
    path("segments/<slug:key>/remove/", views.segment_remove, name="segment_remove"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("briefing-lookup/", views.briefing_lookup, name="briefing_lookup"),
    path("<slug:key>/", views.flag_detail, name="detail"),
    path("<slug:key>/edit/", views.flag_edit, name="edit"),
    path("<slug:key>/kill/", views.flag_kill, name="kill"),
    path("<slug:key>/restore/", views.flag_restore, name="restore"),
    path("<slug:key>/preview/", views.flag_preview, name="preview"),
    path("<slug:key>/phases/<int:phase_id>/segments/", views.flag_targeting, name="targeting"),
]
