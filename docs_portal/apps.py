from django.apps import AppConfig


class DocsPortalConfig(AppConfig):
    name = "docs_portal"
    verbose_name = "Docs portal"

    def ready(self) -> None:
        from docs_portal import plan_copy, readiness, tasks
        from rollouts import events, gate_registry
        from rollouts.models import GateKind

        # Publish rules fire on the release Events that start a phase or complete a release.
        events.register(tasks.on_release_event)
        gate_registry.register(GateKind.DOCS_READY, readiness.linked_docs_published)
        plan_copy.register()
