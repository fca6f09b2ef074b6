"""Audience and stakeholder pages, included under "comms/" by config/urls.py."""

from django.urls import path

from comms import views

app_name = "comms"

urlpatterns = [
    path("audiences/", views.audience_list, name="audience_list"),
    path("audiences/new/", views.audience_create, name="audience_create"),
    path("audiences/<int:audience_id>/edit/", views.audience_edit, name="audience_edit"),
    path("audiences/<int:audience_id>/delete/", views.audience_delete, name="audience_delete"),
    path("stakeholders/", views.stakeholder_list, name="stakeholder_list"),
    path("stakeholders/new/", views.stakeholder_create, name="stakeholder_create"),
    path("stakeholders/import/", views.stakeholder_import, name="stakeholder_import"),
    path("stakeholders/import/example.csv", views.stakeholder_import_example, name="stakeholder_import_example"),
    path("stakeholders/<int:stakeholder_id>/edit/", views.stakeholder_edit, name="stakeholder_edit"),
]
