"""Who may read and who may edit docs. Views, selectors and feeds ask these; nothing else decides.

- public pages: anyone, signed in or not;
- support pages: anyone signed in with a Flightdeck role;
- internal pages: release managers and approvers;
- drafts (and editing, publishing, linking, release notes): release managers only.
"""

from docs_portal.models import DocStatus, Visibility
from rollouts import permissions as rollout_permissions
from rollouts.roles import APPROVER, RELEASE_MANAGER, user_roles


def readable_visibilities(user) -> tuple[str, ...]:
    roles = user_roles(user)
    if RELEASE_MANAGER in roles or APPROVER in roles:
        return (Visibility.PUBLIC, Visibility.SUPPORT, Visibility.INTERNAL)
    if roles:
        return (Visibility.PUBLIC, Visibility.SUPPORT)
    return (Visibility.PUBLIC,)


def can_edit_docs(user) -> bool:
    """Write, publish, link and delete pages; edit release notes; see drafts."""
    return rollout_permissions.can_plan(user)


def can_read(user, *, visibility: str, status: str) -> bool:
    """A page, or one revision of it, with this visibility and status."""
    if visibility not in readable_visibilities(user):
        return False
    return status == DocStatus.PUBLISHED or can_edit_docs(user)


def can_read_page(user, page) -> bool:
    return can_read(user, visibility=page.visibility, status=page.status)


def can_see_history(user, page) -> bool:
    """Revisions are for staff: a public reader sees the page as it is now."""
    return rollout_permissions.can_view(user) and can_read_page(user, page)


def can_see_releases(user) -> bool:
    """Release names and pages are internal to Flightdeck users: the public never sees them."""
    return rollout_permissions.can_view(user)
