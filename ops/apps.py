from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Health, readiness, Prometheus metrics and the operations page.

    ops reads rollouts and comms; nothing imports ops.
    """

    name = "ops"
    verbose_name = "Operations"
