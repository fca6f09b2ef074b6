"""The docs part of the API; config/api_urls.py puts it under /api/v1/."""

from docs_portal.api import briefings, views

routes = [
    ("docs", views.DocPageViewSet, "api-doc"),
    ("known-issues", briefings.KnownIssueViewSet, "api-known-issue"),
    ("faq", briefings.FaqEntryViewSet, "api-faq"),
    ("release-notes", briefings.ReleaseNotesViewSet, "api-release-notes"),
]

urlpatterns: list = []
