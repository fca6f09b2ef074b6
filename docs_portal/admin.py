from django import forms
from django.contrib import admin

from docs_portal import models

# --- Doc pages, links, release notes ---------------------------------------------------


class DocRevisionInline(admin.TabularInline):
    """The history is append-only: every save through the services writes one."""

    model = models.DocRevision
    extra = 0
    fields = ["number", "created_at", "author", "note", "visibility", "status", "title"]
    readonly_fields = fields
    ordering = ["-number"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DocLinkInline(admin.TabularInline):
    model = models.DocLink
    extra = 0
    raw_id_fields = ["release", "phase"]


class DocPageAdminForm(forms.ModelForm):
    class Meta:
        model = models.DocPage
        fields = ["title", "slug", "body", "visibility", "publish_rule"]

    def clean_slug(self):
        from docs_portal.services import RESERVED_SLUGS

        slug = self.cleaned_data["slug"]
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(f"“{slug}” is a reserved address under /docs/; choose another slug.")
        return slug


@admin.register(models.DocPage)
class DocPageAdmin(admin.ModelAdmin):
    form = DocPageAdminForm
    list_display = ["title", "slug", "visibility", "status", "publish_rule", "updated_at"]
    list_filter = ["visibility", "status", "publish_rule"]
    search_fields = ["title", "slug", "body"]
    prepopulated_fields = {"slug": ["title"]}
    # Publishing goes through the pages (it writes a revision and the release timelines).
    readonly_fields = ["status", "published_at", "created_by", "updated_by", "created_at", "updated_at"]
    inlines = [DocLinkInline, DocRevisionInline]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else self.prepopulated_fields

    def save_model(self, request, obj, form, change):
        """Saves go through the services, so the admin writes revisions too."""
        from docs_portal import services

        fields = {name: form.cleaned_data[name] for name in ("title", "body", "visibility", "publish_rule")}
        if change:
            saved = services.page_update(page_id=obj.pk, actor=request.user, note="Edited in the admin", **fields)
        else:
            saved = services.page_create(actor=request.user, slug=form.cleaned_data["slug"], **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(models.DocRevision)
class DocRevisionAdmin(admin.ModelAdmin):
    list_display = ["page", "number", "created_at", "author", "note", "status"]
    list_select_related = ["page", "author"]
    search_fields = ["page__title", "note"]
    readonly_fields = ["page", "number", "title", "body", "visibility", "status", "note", "author", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.DocLink)
class DocLinkAdmin(admin.ModelAdmin):
    list_display = ["page", "release", "phase", "created_at"]
    list_select_related = ["page", "release", "phase"]
    search_fields = ["page__title", "release__name", "release__slug"]
    raw_id_fields = ["page", "release", "phase"]


@admin.register(models.ReleaseNotes)
class ReleaseNotesAdmin(admin.ModelAdmin):
    list_display = ["release", "visible_from_phase", "updated_by", "updated_at"]
    list_select_related = ["release", "visible_from_phase", "updated_by"]
    search_fields = ["release__name", "release__slug", "body"]
    raw_id_fields = ["release", "visible_from_phase"]
    readonly_fields = ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


# --- end of doc pages, links, release notes ---------------------------------------------


# --- Support briefings: known issues, FAQ; calendar feeds ------------------------------


@admin.register(models.KnownIssue)
class KnownIssueAdmin(admin.ModelAdmin):
    """Support adds and updates these on the briefing page, which records timeline events."""

    list_display = ["title", "release", "status", "updated_by", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["release", "updated_by"]
    search_fields = ["title", "description", "workaround", "release__name", "release__slug"]
    raw_id_fields = ["release"]
    readonly_fields = ["created_by", "updated_by", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(models.FaqEntry)
class FaqEntryAdmin(admin.ModelAdmin):
    list_display = ["question", "release", "position", "updated_at"]
    list_select_related = ["release"]
    search_fields = ["question", "answer", "release__name", "release__slug"]
    raw_id_fields = ["release"]
    readonly_fields = ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(models.CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Only the digest of a token is stored, and it is not shown: the URL cannot be rebuilt."""

    list_display = ["user", "hint", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email", "token_hint"]
    fields = ["user", "hint", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="Token")
    def hint(self, obj) -> str:
        return f"…{obj.token_hint}"

    def has_add_permission(self, request):
        return False  # made by their owners on /feeds/calendar/, where the URL is shown once

    @admin.action(description="Revoke the selected calendar URLs")
    def revoke(self, request, queryset):
        from django.utils import timezone

        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} calendar URL{'s' if revoked != 1 else ''}.")


# --- end of support briefings and calendar feeds ----------------------------------------
