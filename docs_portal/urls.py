from django.urls import path

from docs_portal import views
from docs_portal.feeds import ChangelogFeed

app_name = "docs"

# Fixed paths first: a page slug can never be one of them (services.RESERVED_SLUGS).
urlpatterns = [
    path("", views.index, name="index"),
    path("search/", views.search, name="search"),
    path("new/", views.page_create, name="page_create"),
    path("changelog/", views.changelog, name="changelog"),
    path("changelog.atom", ChangelogFeed(), name="changelog_feed"),
    path("changelog/<slug:release_slug>/", views.changelog_entry, name="changelog_entry"),
    path("releases/<slug:release_slug>/", views.release_docs, name="release_docs"),
    path("releases/<slug:release_slug>/notes/", views.release_notes_edit, name="release_notes"),
    path("releases/<slug:release_slug>/links/<int:link_id>/remove/", views.link_remove, name="link_remove"),
    path("<slug:slug>/", views.page_detail, name="page"),
    path("<slug:slug>/edit/", views.page_edit, name="page_edit"),
    path("<slug:slug>/history/", views.page_history, name="page_history"),
    path("<slug:slug>/diff/", views.page_diff, name="page_diff"),
    path("<slug:slug>/publish/", views.page_publish, name="page_publish"),
    path("<slug:slug>/unpublish/", views.page_unpublish, name="page_unpublish"),
    path("<slug:slug>/restore/<int:number>/", views.page_restore, name="page_restore"),
    path("<slug:slug>/delete/", views.page_delete, name="page_delete"),
]
