from django.contrib import admin
from django.db import transaction

from flags import services, snapshot
from flags.models import ApiKey, ConfigVersion, Flag, Segment


class ConfigChangeAdmin(admin.ModelAdmin):
    """Edits here bypass flags/services.py; they still move the configuration version, so every
    process evaluates them within seconds."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        snapshot.changed()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        snapshot.changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        snapshot.changed()

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            snapshot.changed()


@admin.register(Flag)
class FlagAdmin(ConfigChangeAdmin):
    list_display = ["key", "name", "type", "release", "fixed_exposure", "killed_at", "updated_at"]
    list_filter = ["type"]
    search_fields = ["key", "name"]
    list_select_related = ["release"]
    autocomplete_fields = ["release"]
    filter_horizontal = ["segments"]
    readonly_fields = ["killed_at", "killed_by", "kill_reason", "created_by", "created_at", "updated_at"]


@admin.register(Segment)
class SegmentAdmin(ConfigChangeAdmin):
    list_display = ["key", "name", "updated_at"]
    search_fields = ["key", "name"]
    filter_horizontal = ["phases"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(ConfigChangeAdmin):
    """Keys are made on the API keys page, which shows the token once; here they can be revoked."""

    list_display = ["name", "environment", "hint", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["environment"]
    search_fields = ["name", "hint"]
    readonly_fields = ["hint", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        revoked = sum(services.api_key_revoke(key_id=k.pk, actor=request.user) for k in queryset)
        self.message_user(request, f"{revoked} key(s) revoked.")


@admin.register(ConfigVersion)
class ConfigVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "changed_at"]
    readonly_fields = ["version", "changed_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
