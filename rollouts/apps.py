from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    name = "rollouts"
    verbose_name = "Rollouts"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db import transaction
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from rollouts import events, freshness, roles, webhooks
        from rollouts.models import Gate, Phase, Release

        events.register(webhooks.on_event)

        # Cache upkeep only (domain flow never runs on signals): edits made outside the
        # transitions, e.g. in the admin, must still refresh cached pages.
        def bump(**kwargs):
            transaction.on_commit(freshness.bump)

        for model in (Release, Phase, Gate, get_user_model()):
            post_save.connect(bump, sender=model, weak=False, dispatch_uid=f"freshness-save-{model.__name__}")
            post_delete.connect(bump, sender=model, weak=False, dispatch_uid=f"freshness-delete-{model.__name__}")

        User = get_user_model()

        def forget_saved_user(sender, instance, **kwargs):
            transaction.on_commit(lambda: roles.forget_roles(instance.pk))

        def forget_members(sender, instance, action, pk_set, **kwargs):
            if not action.startswith("post_"):
                return
            # user.groups.add(...) passes the user; group.user_set.add(...) passes user ids.
            ids = [instance.pk] if isinstance(instance, User) else list(pk_set or [])
            transaction.on_commit(lambda: [roles.forget_roles(i) for i in ids])

        post_save.connect(forget_saved_user, sender=User, weak=False, dispatch_uid="roles-user-saved")
        m2m_changed.connect(forget_members, sender=User.groups.through, weak=False, dispatch_uid="roles-groups")
