from django.urls import include, path

from rollouts import views, views_api_tokens

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("releases/", views.release_list, name="release_list"),
    path("webhooks/", include("rollouts.urls_webhooks")),
    path("releases/new/", views.release_create, name="release_create"),
    path("releases/<slug:slug>/", views.release_detail, name="release_detail"),
    path("releases/<slug:slug>/edit/", views.release_edit, name="release_edit"),
    path(
        "releases/<slug:slug>/actions/<str:action>/",
        views.release_action,
        name="release_action",
    ),
    path("releases/<slug:slug>/phases/add/", views.phase_add, name="phase_add"),
    path("releases/<slug:slug>/phases/<int:phase_id>/edit/", views.phase_edit, name="phase_edit"),
    path("releases/<slug:slug>/phases/<int:phase_id>/remove/", views.phase_remove, name="phase_remove"),
    path(
        "releases/<slug:slug>/phases/<int:phase_id>/move/<str:direction>/",
        views.phase_move,
        name="phase_move",
    ),
    path("releases/<slug:slug>/phases/<int:phase_id>/advance/", views.phase_advance, name="phase_advance"),
    path("releases/<slug:slug>/phases/<int:phase_id>/gates/add/", views.gate_add, name="gate_add"),
    path("releases/<slug:slug>/gates/<int:gate_id>/remove/", views.gate_remove, name="gate_remove"),
    path("releases/<slug:slug>/gates/<int:gate_id>/reopen/", views.gate_reopen, name="gate_reopen"),
    path(
        "releases/<slug:slug>/gates/<int:gate_id>/<str:decision>/",
        views.gate_decide,
        name="gate_decide",
    ),
    path("releases/<slug:slug>/checklist/<int:item_id>/", views.checklist_tick, name="checklist_tick"),
    path("releases/<slug:slug>/gates/<int:gate_id>/token/<str:op>/", views.gate_token, name="gate_token"),
    path("releases/<slug:slug>/freezes/add/", views.freeze_add, name="freeze_add"),
    path("releases/<slug:slug>/hours/add/", views.hours_add, name="hours_add"),
    path("releases/<slug:slug>/hours/<int:rule_id>/remove/", views.hours_remove, name="hours_remove"),
    path("schedule/", views.schedule_page, name="schedule"),
    path("releases/<slug:slug>/freezes/<int:window_id>/remove/", views.freeze_remove, name="freeze_remove"),
    path("releases/<slug:slug>/rollback-steps/add/", views.rollback_step_add, name="rollback_step_add"),
    path(
        "releases/<slug:slug>/rollback-steps/<int:step_id>/edit/",
        views.rollback_step_edit,
        name="rollback_step_edit",
    ),
    path(
        "releases/<slug:slug>/rollback-steps/<int:step_id>/remove/",
        views.rollback_step_remove,
        name="rollback_step_remove",
    ),
    path(
        "releases/<slug:slug>/rollback-steps/<int:step_id>/move/<str:direction>/",
        views.rollback_step_move,
        name="rollback_step_move",
    ),
    path(
        "releases/<slug:slug>/rollback-run/steps/<int:step_id>/done/",
        views.rollback_step_done,
        name="rollback_run_step_done",
    ),
    path("api-tokens/", views_api_tokens.api_tokens, name="api_tokens"),
    path("api-tokens/<int:token_id>/revoke/", views_api_tokens.api_token_revoke, name="api_token_revoke"),
]

# --- templates and dossier --------------------------------------------------------------
from rollouts import views_templates  # noqa: E402

urlpatterns += [
    path("templates/", views_templates.template_list, name="template_list"),
    path(
        "templates/<int:template_id>/new-release/",
        views_templates.release_from_template,
        name="release_from_template",
    ),
    path("releases/<slug:slug>/save-as-template/", views_templates.template_save, name="template_save"),
    path("releases/<slug:slug>/clone/", views_templates.release_clone, name="release_clone"),
    path("releases/<slug:slug>/dossier/", views_templates.release_dossier, name="release_dossier"),
    path("releases/<slug:slug>/dossier.json", views_templates.release_dossier_json, name="release_dossier_json"),
    path("home/in-flight/", views.home_in_flight, name="home_in_flight"),
    path("calendar/", views.calendar, name="calendar"),
]
