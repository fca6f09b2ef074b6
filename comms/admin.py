from django.contrib import admin

from comms import models


@admin.register(models.Audience)
class AudienceAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name", "description"]


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0
    autocomplete_fields = ["audience"]
    # Only the stakeholder unsubscribes or resubscribes (through their signed link).
    readonly_fields = ["unsubscribed_at"]


@admin.register(models.Stakeholder)
class StakeholderAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "organisation", "opted_out_at", "created_at"]
    list_filter = [("opted_out_at", admin.EmptyFieldListFilter), "audiences"]
    search_fields = ["email", "name", "organisation"]
    readonly_fields = ["opted_out_at", "created_at"]
    inlines = [MembershipInline]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["stakeholder", "audience", "unsubscribed_at"]
    list_filter = ["audience", ("unsubscribed_at", admin.EmptyFieldListFilter)]
    search_fields = ["stakeholder__email", "audience__name"]
    list_select_related = ["stakeholder", "audience"]
    autocomplete_fields = ["stakeholder", "audience"]
    readonly_fields = ["unsubscribed_at"]


class MessageInline(admin.StackedInline):
    model = models.Message
    extra = 0
    fields = ["name", "channel", "audiences", "trigger", "send_at", "phase", "offset_minutes", "subject"]
    filter_horizontal = ["audiences"]
    show_change_link = True


@admin.register(models.CommunicationPlan)
class CommunicationPlanAdmin(admin.ModelAdmin):
    list_display = ["release", "created_at"]
    search_fields = ["release__name", "release__slug"]
    list_select_related = ["release"]
    readonly_fields = ["created_at"]
    inlines = [MessageInline]


@admin.register(models.Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["name", "plan", "channel", "trigger", "send_at", "phase", "offset_minutes", "updated_at"]
    list_filter = ["channel", "trigger"]
    search_fields = ["name", "subject", "plan__release__name"]
    list_select_related = ["plan__release", "phase"]
    filter_horizontal = ["audiences"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(models.Notice)
class NoticeAdmin(admin.ModelAdmin):
    """The outbox is written by the planner and the sender only: look, don't touch."""

    list_display = ["pk", "message", "recipient", "occurrence", "status", "due_at", "attempts", "sent_at"]
    list_filter = ["status"]
    search_fields = ["recipient", "occurrence", "message__name"]
    list_select_related = ["message"]
    date_hierarchy = "due_at"
    readonly_fields = [f.name for f in models.Notice._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
