from rollouts import permissions
from rollouts.roles import user_roles


def roles(request):
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {
        "user_roles": user_roles(user),
        "user_can_plan": permissions.can_plan(user),
        "user_can_decide": permissions.can_decide_gates(user),
    }
