"""The public changelog as an Atom feed: the same release notes as /docs/changelog/."""

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from docs_portal import selectors
from docs_portal.rendering import render_notes


class ChangelogAtomFeed(Atom1Feed):
    """Atom with each entry's notes as <content type="html"> (Django writes only <summary>)."""

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        if item.get("content_html") is not None:
            handler.addQuickElement("content", item["content_html"], {"type": "html"})


class ChangelogFeed(Feed):
    feed_type = ChangelogAtomFeed
    title = "Flightdeck changelog"
    subtitle = "Release notes of releases as they reach users."
    author_name = "Flightdeck"

    def get_object(self, request, *args, **kwargs):
        # The site's address: relative links in the notes are made absolute, since feed
        # readers show them away from the site. (Passed along, not kept on the shared instance.)
        return request.build_absolute_uri("/")

    def link(self):
        return reverse("docs:changelog")

    def feed_url(self):
        return reverse("docs:changelog_feed")

    def items(self, base_url):
        entries = list(selectors.changelog_entries()[: selectors.FEED_ITEMS])
        for entry in entries:
            entry.base_url = base_url
        return entries

    def item_title(self, item):
        return f"{item.release.name} {item.release.version}"

    def item_link(self, item):
        return reverse("docs:changelog_entry", args=[item.release.slug])

    def item_guid(self, item):
        # Stable across edits of the notes and renames of the release.
        return f"tag:flightdeck,2026:release-notes/{item.release_id}"

    def item_description(self, item):
        return None

    def item_pubdate(self, item):
        return item.visible_since

    def item_updateddate(self, item):
        return max(item.updated_at, item.visible_since) if item.visible_since else item.updated_at

    def item_extra_kwargs(self, item):
        return {"content_html": render_notes(item.body, base_url=item.base_url)}
