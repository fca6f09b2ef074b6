from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "comms"
    verbose_name = "Communication plans"

    def ready(self) -> None:
        from comms import readiness, tasks
        from rollouts import events, gate_registry
        from rollouts.models import GateKind

        events.register(tasks.on_release_event)
        gate_registry.register(GateKind.COMMS_READY, readiness.message_sent_to_all)
