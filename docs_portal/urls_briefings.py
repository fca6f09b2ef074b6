from django.urls import path

from docs_portal import briefing_views as views

app_name = "briefings"

urlpatterns = [
    path("", views.briefing_index, name="index"),
    path("<slug:slug>/", views.briefing_detail, name="detail"),
    path("<slug:slug>/known-issues/add/", views.known_issue_add, name="known_issue_add"),
    path("<slug:slug>/known-issues/<int:issue_id>/edit/", views.known_issue_edit, name="known_issue_edit"),
    path("<slug:slug>/faq/add/", views.faq_add, name="faq_add"),
    path("<slug:slug>/faq/<int:entry_id>/edit/", views.faq_edit, name="faq_edit"),
    path("<slug:slug>/faq/<int:entry_id>/remove/", views.faq_remove, name="faq_remove"),
]
