from django.contrib import admin

from rollouts import models


class PhaseInline(admin.TabularInline):
    model = models.Phase
    extra = 0
    fields = ["position", "name", "environment", "exposure_percent", "min_soak_minutes", "auto_advance", "status"]
    readonly_fields = ["status"]


class RollbackStepInline(admin.TabularInline):
    model = models.RollbackStep
    extra = 0


@admin.register(models.Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "slug", "strategy", "status", "owner", "planned_start", "updated_at"]
    list_filter = ["status", "strategy"]
    search_fields = ["name", "version", "slug"]
    readonly_fields = ["status", "current_phase", "started_at", "finished_at", "created_at", "updated_at"]
    list_select_related = ["owner"]
    inlines = [PhaseInline, RollbackStepInline]


@admin.register(models.Phase)
class PhaseAdmin(admin.ModelAdmin):
    list_display = ["name", "release", "position", "exposure_percent", "status"]
    list_filter = ["status", "environment"]
    search_fields = ["name", "release__name"]
    list_select_related = ["release"]
    readonly_fields = ["status", "started_at", "finished_at"]


class ChecklistItemInline(admin.TabularInline):
    model = models.ChecklistItem
    extra = 0


class GateDecisionInline(admin.TabularInline):
    model = models.GateDecision
    extra = 0
    readonly_fields = ["user", "decision", "comment", "created_at"]


@admin.register(models.Gate)
class GateAdmin(admin.ModelAdmin):
    list_display = ["name", "phase", "kind", "required", "status"]
    list_filter = ["kind", "status", "required"]
    search_fields = ["name", "phase__release__name"]
    list_select_related = ["phase", "phase__release"]
    readonly_fields = ["status", "decided_by", "decided_at"]
    inlines = [ChecklistItemInline, GateDecisionInline]


@admin.register(models.GateDecision)
class GateDecisionAdmin(admin.ModelAdmin):
    list_display = ["gate", "user", "decision", "created_at"]
    list_select_related = ["gate", "user"]


@admin.register(models.ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = ["text", "gate", "checked_by", "checked_at"]
    list_select_related = ["gate", "checked_by"]


@admin.register(models.RollbackStep)
class RollbackStepAdmin(admin.ModelAdmin):
    list_display = ["title", "release", "position", "owner", "expected_minutes"]
    list_select_related = ["release", "owner"]


class RollbackRunStepInline(admin.TabularInline):
    model = models.RollbackRunStep
    extra = 0


@admin.register(models.RollbackRun)
class RollbackRunAdmin(admin.ModelAdmin):
    list_display = ["release", "status", "started_by", "started_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["release", "started_by"]
    inlines = [RollbackRunStepInline]


@admin.register(models.RollbackRunStep)
class RollbackRunStepAdmin(admin.ModelAdmin):
    list_display = ["title", "run", "done_by", "done_at"]
    list_select_related = ["run", "done_by"]


@admin.register(models.Event)
class EventAdmin(admin.ModelAdmin):
    """The timeline is append-only: readable here, never edited."""

    list_display = ["created_at", "release", "verb", "actor"]
    list_filter = ["verb"]
    search_fields = ["release__name", "verb", "reason"]
    list_select_related = ["release", "actor"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(models.GateMeasurement)
class GateMeasurementAdmin(admin.ModelAdmin):
    list_display = ["gate", "taken_at", "value", "verdict", "message"]
    list_filter = ["verdict"]
    list_select_related = ["gate"]
    readonly_fields = ["gate", "taken_at", "value", "verdict", "message", "detail", "claim_token"]


@admin.register(models.FreezeWindow)
class FreezeWindowAdmin(admin.ModelAdmin):
    list_display = ["name", "release", "starts_local", "ends_local", "timezone"]
    list_select_related = ["release"]


@admin.register(models.AllowedHours)
class AllowedHoursAdmin(admin.ModelAdmin):
    list_display = ["__str__", "release", "weekdays"]
    list_select_related = ["release"]


@admin.register(models.WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "is_active", "release", "created_at"]
    list_filter = ["is_active"]
    readonly_fields = ["created_at", "disabled_reason"]


class WebhookAttemptInline(admin.TabularInline):
    model = models.WebhookAttempt
    extra = 0
    readonly_fields = ["attempted_at", "status_code", "error", "duration_ms"]


@admin.register(models.WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["message_id", "subscription", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status"]
    list_select_related = ["subscription"]
    readonly_fields = ["message_id", "payload", "event", "subscription", "delivered_at"]
    inlines = [WebhookAttemptInline]


@admin.register(models.WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ["delivery", "attempted_at", "status_code", "duration_ms"]
    list_select_related = ["delivery"]


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by their owners on the API tokens page; here they can be seen and revoked.

    The digest is never shown (token_hash is not editable, so not in the form)."""

    list_display = ["name", "user", "hint", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "hint"]
    fields = ["user", "name", "hint", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = ["user", "hint", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        from django.utils import timezone

        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} token(s) revoked.")


@admin.register(models.IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["key", "user", "method", "path", "status_code", "created_at"]
    list_select_related = ["user"]
    readonly_fields = ["user", "key", "method", "path", "fingerprint", "status_code", "response_body", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False


# --- templates and dossier --------------------------------------------------------------


@admin.register(models.ReleaseTemplate)
class ReleaseTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "strategy", "created_by", "updated_at"]
    list_filter = ["strategy"]
    search_fields = ["name", "description"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at", "updated_at"]


# --- operations ---------------------------------------------------------------------------


@admin.register(models.Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    """Written by the periodic tasks only; shown for reference (the operations page reads it)."""

    list_display = ["kind", "beat_at", "took_ms"]
    readonly_fields = ["kind", "beat_at", "took_ms"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
