from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "comms"
    verbose_name = "Communication plans"

    def ready(self) -> None:
        from comms import plan_copy, readiness, selectors, tasks
        from rollouts import events, gate_registry, home_registry
        from rollouts.models import GateKind

        events.register(tasks.on_release_event)
        gate_registry.register(GateKind.COMMS_READY, readiness.message_sent_to_all)
        plan_copy.register()
        home_registry.register("notices_due", selectors.notices_due)
