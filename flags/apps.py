from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "flags"
    verbose_name = "Feature flags"

    def ready(self) -> None:
        from flags import actions, snapshot
        from rollouts import action_registry, events
        from rollouts.models import RollbackAction

        # A rollback, a phase advance or a plan edit of a release a flag follows changes the
        # flag: the snapshot is rebuilt here at once and elsewhere within CHECK_SECONDS.
        events.register(snapshot.on_release_event)
        action_registry.register(RollbackAction.FLAG_OFF, actions.flag_off)
