"""The "turn a feature flag off" rollback action, registered with rollouts.action_registry."""

from flags.models import Flag


class FlagOff:
    """Performer of RollbackAction.FLAG_OFF: action_config is {"flag": "<key>"}.

    Turns the flag's kill switch on, so it answers its off variant everywhere at once,
    whichever release it follows. Running it twice is harmless.
    """

    def __call__(self, step) -> tuple[bool, str]:
        from flags import services

        key = (step.action_config or {}).get("flag", "")
        flag = Flag.objects.filter(key=key).only("pk").first()
        if flag is None:
            return False, f"There is no feature flag “{key}” to turn off."
        reason = f"Rollback step “{step.title}”"
        if getattr(step, "run", None) is not None and step.run.reason:
            reason += f": {step.run.reason}"
        if services.flag_kill(flag_id=flag.pk, actor=None, reason=reason):
            return True, f"Feature flag “{key}” is off."
        return True, f"Feature flag “{key}” was already off."

    def config_problem(self, config: dict) -> str | None:
        """What is wrong with a step's action_config, for the rollback step form."""
        key = (config or {}).get("flag", "")
        if not key:
            return "Name the feature flag to turn off."
        if not Flag.objects.filter(key=key).exists():
            return f"There is no feature flag “{key}”. Create it under Flags first, or check the key."
        return None


flag_off = FlagOff()
