"""Who gets what from every URL of the site and the API (issue 9).

MATRIX maps each URL pattern's key (see `url_keys`) to an Entry: how to fill in the URL
from the world of tests/config/permission_world.py, and the requests to try, each with the
status expected for every role. tests/config/test_permission_matrix.py sends them, and fails
when a URL pattern has no entry here or an entry names no URL pattern.

Reading a row: `GET(PAGE)` is a page any Flightdeck role reads (anonymous is sent to the
login page, a signed-in user without a role gets 403); `POST(MANAGER_ACTION)` is an action
only release managers (and the superuser, who holds every role) may take, answered with a
redirect. A POST with an empty body that a role may send answers with what an empty form
gets (usually 422): that still shows the role got past the permission check.

The columns are ROLES: "outsider" is signed in with no role, "admin" is a staff superuser
(rollouts.roles.user_roles gives a superuser every role).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver

from rollouts.models import GateStatus, ReleaseStatus

ROLES = ("anonymous", "outsider", "viewer", "support", "approver", "manager", "admin")

# --- expected statuses, by role ---------------------------------------------------------------


def expect(*, anonymous, outsider, viewer, support, approver, manager, admin) -> dict[str, int]:
    return {
        "anonymous": anonymous,
        "outsider": outsider,
        "viewer": viewer,
        "support": support,
        "approver": approver,
        "manager": manager,
        "admin": admin,
    }


def everyone(status: int) -> dict[str, int]:
    """Public, or a credential of its own: the same answer whoever is signed in."""
    return dict.fromkeys(ROLES, status)


def readers(ok: int = 200, *, anonymous: int = 302) -> dict[str, int]:
    """Any Flightdeck role (rollouts.permissions.can_view); anonymous goes to the login page."""
    return expect(anonymous=anonymous, outsider=403, viewer=ok, support=ok, approver=ok, manager=ok, admin=ok)


def managers(ok: int = 200, *, anonymous: int = 302) -> dict[str, int]:
    """Release managers only (can_plan, can_act, can_edit_release, can_edit_docs, can_manage_flags)."""
    return expect(anonymous=anonymous, outsider=403, viewer=403, support=403, approver=403, manager=ok, admin=ok)


def approvers(ok: int = 303, *, anonymous: int = 302) -> dict[str, int]:
    """Approvers only (can_decide_gates): not even a release manager decides gates."""
    return expect(anonymous=anonymous, outsider=403, viewer=403, support=403, approver=ok, manager=403, admin=ok)


def tickers(ok: int = 303, *, anonymous: int = 302) -> dict[str, int]:
    """Release managers and approvers (can_tick_checklist)."""
    return expect(anonymous=anonymous, outsider=403, viewer=403, support=403, approver=ok, manager=ok, admin=ok)


def hidden_unless(statuses: dict[str, int]) -> dict[str, int]:
    """A doc page someone may not read answers 404, as if there were none (never 302 or 403)."""
    return {role: 404 if status in (302, 403) else status for role, status in statuses.items()}


def api_readers(ok: int = 200) -> dict[str, int]:
    """API, any role; neither session nor token answers 401 in the JSON error shape."""
    return readers(ok, anonymous=401)


def api_managers(ok: int) -> dict[str, int]:
    return managers(ok, anonymous=401)


def api_approvers(ok: int) -> dict[str, int]:
    return approvers(ok, anonymous=401)


def api_tickers(ok: int) -> dict[str, int]:
    return tickers(ok, anonymous=401)


# --- what to send -----------------------------------------------------------------------------

Build = Callable[[object], dict]  # world -> dict


@dataclass(frozen=True)
class Try:
    method: str
    expect: dict[str, int]
    kwargs: Build | None = None  # the URL's kwargs, instead of the entry's
    data: dict | Build | None = None  # form data, the query of a GET, or a JSON body (json=True)
    json: bool = False
    headers: Build | None = None
    label: str = ""  # tells two tries of one method apart
    # Whether the request changed what it acts on (read before it is undone), and for which
    # roles it must: a status alone does not show that a refusal, or a quiet no-op, did nothing.
    changed: Callable[[object], bool] | None = None
    changes_for: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.method + (f"[{self.label}]" if self.label else "")


def GET(statuses: dict[str, int], **kw) -> Try:
    return Try("get", statuses, **kw)


def POST(statuses: dict[str, int], **kw) -> Try:
    return Try("post", statuses, **kw)


def API(method: str, statuses: dict[str, int], **kw) -> Try:
    """A JSON request; a body-carrying method sends `{}` unless given a body."""
    if method not in ("get", "delete"):
        kw.setdefault("data", {})
    return Try(method, statuses, json=True, **kw)


@dataclass(frozen=True)
class Entry:
    tries: tuple[Try, ...]
    kwargs: Build = field(default=lambda w: {})
    path: Callable[[object], str] | None = None  # for a pattern that cannot be reversed


def E(*tries: Try, kwargs: Build | None = None, path: Callable[[object], str] | None = None) -> Entry:
    return Entry(tries=tries, kwargs=kwargs or (lambda w: {}), path=path)


# --- the URL patterns of the project ------------------------------------------------------------

# Django's admin is one family, not one row per model URL: admin.site.has_permission (active
# staff) guards all of them, so its index stands for the rest.
ADMIN_FAMILY = "admin:*"
# DRF's format_suffix_patterns adds a "<route>.(?P<format>…)" twin of each pattern; a named
# twin has its pattern's name, an unnamed one gets its pattern's route here, so a twin shares
# its pattern's row. (The SimpleRouter of config/api_urls.py adds none: no format_suffix.)
FORMAT_SUFFIX = r"\.(?P<format>[a-z0-9]+)/?$"


def url_keys() -> Iterator[tuple[str, str]]:
    """(key, route) of every URL pattern: "namespace:name", or the full route when unnamed.

    The admin namespace is one key, ADMIN_FAMILY. There is no static or media pattern to
    skip: WhiteNoise serves static files as a middleware, outside the URLconf.
    """
    yield from _walk(get_resolver(), "", None)


def _walk(resolver: URLResolver, prefix: str, namespace: str | None) -> Iterator[tuple[str, str]]:
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            if ns == "admin":
                yield ADMIN_FAMILY, route
            else:
                yield from _walk(p, route, ns)
        elif isinstance(p, URLPattern):
            if p.name:
                yield (f"{namespace}:{p.name}" if namespace else p.name), route
            else:
                yield route.removesuffix(FORMAT_SUFFIX), route


# --- the matrix ---------------------------------------------------------------------------------


def slug(w) -> dict:
    return {"slug": w.checkout.slug}


def on_checkout(**names: str) -> Build:
    """The release in flight's slug and the pks of world objects, e.g. on_checkout(phase_id="phase")."""
    return lambda w: {"slug": w.checkout.slug, **{arg: getattr(w, name).pk for arg, name in names.items()}}


def pk(name: str, **more: str) -> Build:
    return lambda w: {"pk": getattr(w, name).pk, **{arg: getattr(w, other).pk for arg, other in more.items()}}


def status_is(name: str, status: str) -> Callable[[object], bool]:
    """The world object's status in the database is `status`."""
    return lambda w: type(getattr(w, name)).objects.filter(pk=getattr(w, name).pk, status=status).exists()


def revoked(name: str) -> Callable[[object], bool]:
    """The world's token or feed of that name is revoked (it belongs to the manager)."""
    return lambda w: type(getattr(w, name)).objects.filter(pk=getattr(w, name).pk, revoked_at__isnull=False).exists()


def ofrep_key(w) -> dict:
    return {"HTTP_X_API_KEY": w.ofrep_token}


def gate_token_header(w) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {w.ci_token}"}


OFREP_CONTEXT = {"context": {"targetingKey": "user-1"}}
PAGE = readers()  # any role reads it
MANAGER_PAGE = managers()  # a form only release managers open
MANAGER_ACTION = managers(303)  # a POST that changes something, then 303 See Other
EMPTY_FORM = 422  # a form sent empty is shown again with its errors
API_EMPTY_WRITE = api_managers(400)  # an empty body a manager may send: 400 naming the fields

MATRIX: dict[str, Entry] = {
    ADMIN_FAMILY: E(
        # Anyone who is not staff is sent to the admin's own login page.
        GET(expect(anonymous=302, outsider=302, viewer=302, support=302, approver=302, manager=302, admin=200)),
        path=lambda w: "/admin/",
    ),
    # --- accounts and operations -------------------------------------------------------------
    "login": E(GET({**everyone(302), "anonymous": 200})),  # redirect_authenticated_user
    "logout": E(POST(everyone(302))),
    # ops/: probes and scrapers need no login; the status page is for staff accounts.
    "healthz": E(GET(everyone(200))),  # liveness
    # Readiness asks the database, the broker and beat; no beat ticks in this world, so it is
    # 503 for everyone (tests/ops/test_health.py shows the 200 once the engine ticked).
    "readyz": E(GET(everyone(503))),
    "metrics": E(GET(everyone(200))),  # METRICS_TOKEN is not set here; with it, a bearer token
    "ops-status": E(
        GET(expect(anonymous=302, outsider=403, viewer=403, support=403, approver=403, manager=403, admin=200))
    ),
    # --- rollouts: home, lists, the release page ---------------------------------------------
    "dashboard": E(GET(PAGE)),
    "home_in_flight": E(GET(PAGE)),
    "calendar": E(GET(PAGE)),
    "release_list": E(GET(PAGE)),
    "schedule": E(GET(PAGE), POST(managers(404))),  # an empty POST names no change: 404
    "release_create": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "release_detail": E(GET(PAGE), kwargs=slug),
    "release_edit": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "release_action": E(
        POST(MANAGER_ACTION, changed=status_is("checkout", ReleaseStatus.PAUSED), changes_for=("manager", "admin")),
        kwargs=lambda w: {"slug": w.checkout.slug, "action": "pause"},
    ),
    "release_dossier": E(GET(PAGE), kwargs=slug),
    "release_dossier_json": E(GET(PAGE), kwargs=slug),
    # --- rollouts: the plan ---------------------------------------------------------------------
    "phase_add": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "phase_edit": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=on_checkout(phase_id="pending_phase")),
    "phase_remove": E(POST(MANAGER_ACTION), kwargs=on_checkout(phase_id="pending_phase")),
    "phase_move": E(
        POST(MANAGER_ACTION),
        kwargs=lambda w: {"slug": w.checkout.slug, "phase_id": w.pending_phase.pk, "direction": "down"},
    ),
    # Its gates are not passed yet: the manager is told so on the release page.
    "phase_advance": E(POST(MANAGER_ACTION), kwargs=on_checkout(phase_id="phase")),
    "gate_add": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=on_checkout(phase_id="phase")),
    "gate_remove": E(POST(MANAGER_ACTION), kwargs=on_checkout(gate_id="http_gate")),
    "gate_reopen": E(POST(MANAGER_ACTION), kwargs=on_checkout(gate_id="manual_gate")),
    "gate_decide": E(
        POST(
            approvers(),
            label="approve",
            changed=status_is("manual_gate", GateStatus.PASSED),
            changes_for=("approver", "admin"),
        ),
        POST(
            approvers(),
            label="reject",
            kwargs=lambda w: {"slug": w.checkout.slug, "gate_id": w.manual_gate.pk, "decision": "reject"},
        ),
        kwargs=lambda w: {"slug": w.checkout.slug, "gate_id": w.manual_gate.pk, "decision": "approve"},
    ),
    "checklist_tick": E(POST(tickers(), data={"checked": "1"}), kwargs=on_checkout(item_id="checklist_item")),
    # A new pipeline token is shown once, on the page itself (never through a redirect).
    "gate_token": E(
        POST(managers(200), label="rotate"),
        POST(
            MANAGER_ACTION,
            label="revoke",
            kwargs=lambda w: {"slug": w.checkout.slug, "gate_id": w.ci_gate.pk, "op": "revoke"},
        ),
        kwargs=lambda w: {"slug": w.checkout.slug, "gate_id": w.ci_gate.pk, "op": "rotate"},
    ),
    "freeze_add": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "freeze_remove": E(POST(MANAGER_ACTION), kwargs=on_checkout(window_id="freeze")),
    "hours_add": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "hours_remove": E(POST(MANAGER_ACTION), kwargs=on_checkout(rule_id="hours")),
    "rollback_step_add": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "rollback_step_edit": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=on_checkout(step_id="step")),
    "rollback_step_remove": E(POST(MANAGER_ACTION), kwargs=on_checkout(step_id="step")),
    "rollback_step_move": E(
        POST(MANAGER_ACTION), kwargs=lambda w: {"slug": w.checkout.slug, "step_id": w.step.pk, "direction": "down"}
    ),
    "rollback_run_step_done": E(
        POST(MANAGER_ACTION), kwargs=lambda w: {"slug": w.legacy.slug, "step_id": w.run_step.pk}
    ),
    # --- rollouts: templates, webhooks, personal API tokens ---------------------------------------
    "template_list": E(GET(MANAGER_PAGE)),
    "template_save": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "release_from_template": E(
        GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=lambda w: {"template_id": w.template.pk}
    ),
    "release_clone": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "webhook_list": E(GET(MANAGER_PAGE)),
    "webhook_create": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "webhook_detail": E(GET(MANAGER_PAGE), kwargs=lambda w: {"subscription_id": w.webhook.pk}),
    "webhook_disable": E(POST(MANAGER_ACTION), kwargs=lambda w: {"subscription_id": w.webhook.pk}),
    "webhook_enable": E(POST(MANAGER_ACTION), kwargs=lambda w: {"subscription_id": w.webhook.pk}),
    "webhook_rotate_secret": E(POST(MANAGER_ACTION), kwargs=lambda w: {"subscription_id": w.webhook.pk}),
    # Every role keeps its own tokens. Revoking someone else's changes nothing and says
    # nothing (no probing for token ids): the same redirect.
    "api_tokens": E(GET(PAGE), POST(readers(EMPTY_FORM))),
    "api_token_revoke": E(
        POST(readers(303), changed=revoked("api_token"), changes_for=("manager",)),
        kwargs=lambda w: {"token_id": w.api_token.pk},
    ),
    # --- comms -----------------------------------------------------------------------------------
    "comms:audience_list": E(GET(PAGE)),
    "comms:audience_create": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "comms:audience_edit": E(
        GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=lambda w: {"audience_id": w.audience.pk}
    ),
    # A message is addressed to it: the manager is told why it stays (409).
    "comms:audience_delete": E(GET(MANAGER_PAGE), POST(managers(409)), kwargs=lambda w: {"audience_id": w.audience.pk}),
    "comms:stakeholder_list": E(GET(PAGE)),
    "comms:stakeholder_create": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "comms:stakeholder_import": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "comms:stakeholder_import_example": E(GET(MANAGER_PAGE)),
    "comms:stakeholder_edit": E(
        GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=lambda w: {"stakeholder_id": w.stakeholder.pk}
    ),
    "comms_plan:plan": E(GET(PAGE), kwargs=slug),
    # Previews a saved message (GET) or what the form holds (POST); nothing is saved.
    "comms_plan:preview": E(GET(PAGE, data=lambda w: {"message": w.message.pk}), POST(readers(200)), kwargs=slug),
    "comms_plan:message_add": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "comms_plan:message_edit": E(
        GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=on_checkout(message_id="message")
    ),
    "comms_plan:message_delete": E(POST(MANAGER_ACTION), kwargs=on_checkout(message_id="message")),
    "comms_plan:message_require": E(POST(MANAGER_ACTION), kwargs=on_checkout(message_id="message")),
    "comms_plan:outbox": E(GET(PAGE)),
    "comms_plan:notice_retry": E(POST(MANAGER_ACTION), kwargs=lambda w: {"notice_id": w.notice.pk}),
    # The links in every notice: the signed token is the credential, no login.
    "comms_public:unsubscribe": E(
        GET(everyone(200)), POST(everyone(200)), kwargs=lambda w: {"token": w.unsubscribe_token}
    ),
    # Choosing no audience is a choice: unsubscribed, and the page says so after a redirect.
    "comms_public:preferences": E(
        GET(everyone(200)), POST(everyone(303)), kwargs=lambda w: {"token": w.unsubscribe_token}
    ),
    # --- docs ------------------------------------------------------------------------------------
    "docs:index": E(GET(everyone(200))),
    "docs:search": E(GET(everyone(200), data={"q": "steps"})),
    "docs:changelog": E(GET(everyone(200))),
    "docs:changelog_feed": E(GET(everyone(200))),
    "docs:changelog_entry": E(GET(everyone(200)), kwargs=lambda w: {"release_slug": w.checkout.slug}),
    "docs:page_create": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "docs:release_docs": E(
        GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=lambda w: {"release_slug": w.checkout.slug}
    ),
    # Empty notes are notes too (they leave the changelog).
    "docs:release_notes": E(
        GET(MANAGER_PAGE), POST(MANAGER_ACTION), kwargs=lambda w: {"release_slug": w.checkout.slug}
    ),
    "docs:link_remove": E(
        POST(MANAGER_ACTION), kwargs=lambda w: {"release_slug": w.checkout.slug, "link_id": w.doc_link.pk}
    ),
    # Visibility decides who reads a page (docs_portal/permissions.py): public for everyone,
    # support for every role, internal for release managers and approvers.
    "docs:page": E(
        GET(everyone(200), label="public", kwargs=lambda w: {"slug": w.public_doc.slug}),
        GET(hidden_unless(PAGE), label="support"),
        GET(hidden_unless(tickers(200)), label="internal", kwargs=lambda w: {"slug": w.internal_doc.slug}),
        kwargs=lambda w: {"slug": w.doc.slug},
    ),
    # Revisions are for staff: a public reader sees the page as it is now.
    "docs:page_history": E(GET(hidden_unless(PAGE)), kwargs=lambda w: {"slug": w.doc.slug}),
    "docs:page_diff": E(GET(hidden_unless(PAGE)), kwargs=lambda w: {"slug": w.doc.slug}),
    "docs:page_edit": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=lambda w: {"slug": w.doc.slug}),
    "docs:page_publish": E(POST(MANAGER_ACTION), kwargs=lambda w: {"slug": w.doc.slug}),
    "docs:page_unpublish": E(POST(MANAGER_ACTION), kwargs=lambda w: {"slug": w.doc.slug}),
    "docs:page_restore": E(
        POST(MANAGER_ACTION), kwargs=lambda w: {"slug": w.doc.slug, "number": w.doc_revision.number}
    ),
    "docs:page_delete": E(GET(MANAGER_PAGE), POST(MANAGER_ACTION), kwargs=lambda w: {"slug": w.doc.slug}),
    # --- briefings: every role reads them and records known issues; managers edit the FAQ ------
    "briefings:index": E(GET(PAGE)),
    "briefings:detail": E(GET(PAGE), kwargs=slug),
    "briefings:known_issue_add": E(GET(PAGE), POST(readers(EMPTY_FORM)), kwargs=slug),
    "briefings:known_issue_edit": E(GET(PAGE), POST(readers(EMPTY_FORM)), kwargs=on_checkout(issue_id="known_issue")),
    "briefings:faq_add": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=slug),
    "briefings:faq_edit": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=on_checkout(entry_id="faq")),
    "briefings:faq_remove": E(POST(MANAGER_ACTION), kwargs=on_checkout(entry_id="faq")),
    # --- calendar feeds: each user their own secret URLs --------------------------------------
    "feeds:calendar": E(GET(PAGE), POST(readers(201))),
    # Revoking someone else's feed does nothing, and says nothing.
    "feeds:calendar_revoke": E(
        POST(readers(303), changed=revoked("calendar_feed"), changes_for=("manager",)),
        kwargs=lambda w: {"feed_id": w.calendar_feed.pk},
    ),
    "feeds:calendar_feed": E(GET(everyone(200)), kwargs=lambda w: {"token": w.calendar_token}),
    # --- flags -----------------------------------------------------------------------------------
    "flags:list": E(GET(PAGE)),
    "flags:create": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "flags:detail": E(GET(PAGE), kwargs=lambda w: {"key": w.flag.key}),
    "flags:edit": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=lambda w: {"key": w.flag.key}),
    "flags:kill": E(POST(MANAGER_ACTION), kwargs=lambda w: {"key": w.flag.key}),
    "flags:restore": E(POST(MANAGER_ACTION), kwargs=lambda w: {"key": w.flag.key}),
    "flags:preview": E(GET(PAGE), kwargs=lambda w: {"key": w.flag.key}),
    "flags:targeting": E(POST(MANAGER_ACTION), kwargs=lambda w: {"key": w.flag.key, "phase_id": w.pending_phase.pk}),
    "flags:segment_list": E(GET(PAGE)),
    "flags:segment_create": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "flags:segment_edit": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM)), kwargs=lambda w: {"key": w.segment.key}),
    "flags:segment_remove": E(POST(MANAGER_ACTION), kwargs=lambda w: {"key": w.segment.key}),
    "flags:api_keys": E(GET(MANAGER_PAGE), POST(managers(EMPTY_FORM))),
    "flags:api_key_revoke": E(POST(MANAGER_ACTION), kwargs=lambda w: {"key_id": w.flags_api_key.pk}),
    "flags:briefing_lookup": E(GET(PAGE, data={"release": "checkout"})),
    # --- OFREP: the environment's API key is the credential; a session counts for nothing ------
    "ofrep:evaluate": E(
        API("post", everyone(200), label="key", headers=ofrep_key, data=OFREP_CONTEXT),
        API("post", everyone(401), label="no-key", data=OFREP_CONTEXT),
        kwargs=lambda w: {"key": w.flag.key},
    ),
    "ofrep:evaluate_all": E(
        API("post", everyone(200), label="key", headers=ofrep_key, data=OFREP_CONTEXT),
        API("post", everyone(401), label="no-key", data=OFREP_CONTEXT),
    ),
    "ofrep:configuration": E(
        API("get", everyone(200), label="key", headers=ofrep_key), API("get", everyone(401), label="no-key")
    ),
    # --- API: the schema and its docs, and what no endpoint answers ----------------------------
    # Public: drf-spectacular's default (SERVE_PERMISSIONS is not set in config/settings.py).
    "api_schema": E(API("get", everyone(200))),
    "api_docs": E(API("get", everyone(200))),
    "api_redoc": E(API("get", everyone(200))),
    r"api/v1/^(?P<rest>.*)$": E(API("get", everyone(404)), path=lambda w: "/api/v1/no-such-thing"),
    # A pipeline reports with the gate's own token; a session or personal token counts for nothing.
    "api_gate_result": E(
        API("post", everyone(200), label="gate-token", data={"status": "pass"}, headers=gate_token_header),
        API("post", everyone(401), label="no-token", data={"status": "pass"}),
        kwargs=lambda w: {"gate_id": w.ci_gate.pk},
    ),
    "api_me": E(API("get", api_readers())),
}


def _api_resource(
    name: str,
    lookup: Build,
    *,
    list_=None,
    create=None,
    create_body: Build | None = None,
    retrieve=None,
    update=None,
    put=None,
    destroy=None,
) -> dict[str, Entry]:
    """The list and detail routes of one API resource; a method left None is one it lacks.

    A create whose permission depends on the object it names (a phase's release) is sent
    a valid `create_body`, since the body is checked before the release it names can be.
    """
    on_list = [API("get", list_) if list_ else None, API("post", create, data=create_body or {}) if create else None]
    on_detail = [
        API("get", retrieve) if retrieve else None,
        API("patch", update) if update else None,
        API("put", put) if put else None,
        API("delete", destroy) if destroy else None,
    ]
    entries = {}
    if any(on_list):
        entries[f"{name}-list"] = E(*filter(None, on_list))
    if any(on_detail):
        entries[f"{name}-detail"] = E(*filter(None, on_detail), kwargs=lookup)
    return entries


def _api_action(statuses: dict[str, int], lookup: Build, method: str = "post", **kw) -> Entry:
    return E(API(method, statuses, **kw), kwargs=lookup)


CHECKOUT = pk("checkout")
DOC = lambda w: {"pk": w.doc.slug}  # noqa: E731
FLAG = lambda w: {"pk": w.flag.key}  # noqa: E731

MATRIX |= {
    # --- rollouts ----------------------------------------------------------------------------
    **_api_resource(
        "api-release",
        CHECKOUT,
        list_=api_readers(),
        create=API_EMPTY_WRITE,
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(409),  # only a draft is deleted
    ),
    "api-release-status": _api_action(api_readers(), CHECKOUT, method="get"),
    "api-release-schedule": _api_action(api_managers(409), CHECKOUT),  # it is in progress already
    "api-release-unschedule": _api_action(api_managers(409), CHECKOUT),
    "api-release-start": _api_action(api_managers(409), CHECKOUT),
    "api-release-advance": _api_action(api_managers(409), CHECKOUT),  # its gates are not passed
    "api-release-pause": _api_action(api_managers(200), CHECKOUT),
    "api-release-resume": _api_action(api_managers(409), CHECKOUT),
    "api-release-complete": _api_action(api_managers(409), CHECKOUT),
    "api-release-cancel": _api_action(api_managers(200), CHECKOUT),
    "api-release-rollback": _api_action(api_managers(400), CHECKOUT),  # a rollback needs a reason
    # Flagger's webhooks authenticate with a personal token (header or payload), never a session.
    "api-release-flagger-rollback": _api_action(everyone(401), CHECKOUT),
    **_api_resource(
        "api-phase",
        pk("pending_phase"),
        list_=api_readers(),
        create=api_managers(201),
        create_body=lambda w: {"release": w.checkout.pk, "name": "Everyone", "exposure_percent": 100},
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(204),
    ),
    "api-phase-move": _api_action(API_EMPTY_WRITE, pk("pending_phase")),
    **_api_resource(
        "api-gate",
        pk("http_gate"),
        list_=api_readers(),
        create=api_managers(201),
        create_body=lambda w: {"phase": w.pending_phase.pk, "name": "Sign-off", "kind": "manual_approval"},
        retrieve=api_readers(),
        destroy=api_managers(204),
    ),
    "api-gate-approve": _api_action(api_approvers(200), pk("manual_gate")),
    "api-gate-reject": _api_action(api_approvers(200), pk("manual_gate"), data={"comment": "Errors are up."}),
    "api-gate-reopen": _api_action(api_managers(409), pk("manual_gate")),  # it is still pending
    "api-gate-check-item": _api_action(
        api_tickers(200), pk("checklist_gate", item_id="checklist_item"), data={"checked": True}
    ),
    "api-gate-token": E(API("post", api_managers(201)), API("delete", api_managers(204)), kwargs=pk("ci_gate")),
    "api-gate-argo": _api_action(api_readers(), pk("http_gate"), method="get"),
    "api-gate-flagger": _api_action(everyone(401), pk("http_gate")),  # a personal token only, as above
    **_api_resource(
        "api-rollback-step",
        pk("step"),
        list_=api_readers(),
        create=api_managers(201),
        create_body=lambda w: {"release": w.checkout.pk, "title": "Flush the CDN", "expected_minutes": 5},
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(204),
    ),
    "api-rollback-step-move": _api_action(API_EMPTY_WRITE, pk("step")),
    **_api_resource("api-rollback-run", pk("rollback_run"), list_=api_readers(), retrieve=api_readers()),
    "api-rollback-run-step-done": _api_action(api_managers(200), pk("rollback_run", step_id="run_step")),
    **_api_resource("api-event", pk("event"), list_=api_readers(), retrieve=api_readers()),
    # Webhooks are for release managers only, reading included (they show where data goes).
    **_api_resource(
        "api-webhook",
        pk("webhook"),
        list_=api_managers(200),
        create=API_EMPTY_WRITE,
        retrieve=api_managers(200),
        update=api_managers(200),  # PATCH only: an empty body changes nothing
        destroy=api_managers(204),  # its delivery goes with it
    ),
    "api-webhook-disable": _api_action(api_managers(200), pk("webhook")),
    "api-webhook-enable": _api_action(api_managers(200), pk("webhook")),
    "api-webhook-rotate-secret": _api_action(api_managers(200), pk("webhook")),
    **_api_resource("api-webhook-delivery", pk("delivery"), list_=api_managers(200), retrieve=api_managers(200)),
    # --- comms -------------------------------------------------------------------------------
    **_api_resource(
        "api-audience",
        pk("audience"),
        list_=api_readers(),
        create=API_EMPTY_WRITE,
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(409),  # a message is addressed to it
    ),
    **_api_resource(
        "api-stakeholder",
        pk("stakeholder"),
        list_=api_readers(),
        create=API_EMPTY_WRITE,
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(204),  # forgotten: their failed notice goes with them
    ),
    **_api_resource("api-communication-plan", pk("plan"), list_=api_readers(), retrieve=api_readers()),
    **_api_resource(
        "api-message",
        pk("message"),
        list_=api_readers(),
        create=api_managers(201),
        create_body=lambda w: {
            "release": w.checkout.pk,
            "name": "Paused",
            "trigger": "on_pause",
            "audiences": [w.audience.pk],
            "subject": "Paused",
            "body": "We paused {{ release.name }}.",
        },
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(204),
    ),
    "api-message-require-before-phase": _api_action(API_EMPTY_WRITE, pk("message")),
    **_api_resource("api-notice", pk("notice"), list_=api_readers(), retrieve=api_readers()),
    "api-notice-retry": _api_action(api_managers(200), pk("notice")),
    # --- docs and briefings ------------------------------------------------------------------
    **_api_resource(
        "api-doc",
        DOC,
        list_=api_readers(),
        create=API_EMPTY_WRITE,
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(204),
    ),
    "api-doc-links": _api_action(API_EMPTY_WRITE, DOC),
    "api-doc-publish": _api_action(api_managers(409), DOC),  # published already
    "api-doc-unpublish": _api_action(api_managers(200), DOC),
    "api-doc-unlink": _api_action(
        api_managers(204), lambda w: {"pk": w.doc.slug, "link_id": w.doc_link.pk}, method="delete"
    ),
    # Known issues: every role records and updates them, as on the briefing page.
    **_api_resource(
        "api-known-issue",
        pk("known_issue"),
        list_=api_readers(),
        create=api_readers(201),
        create_body=lambda w: {"release": w.checkout.pk, "title": "Slow receipts"},
        retrieve=api_readers(),
        update=api_readers(200),
    ),
    **_api_resource(
        "api-faq",
        pk("faq"),
        list_=api_readers(),
        create=API_EMPTY_WRITE,
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(204),
    ),
    **_api_resource(
        "api-release-notes", lambda w: {"pk": w.checkout.slug}, retrieve=api_readers(), put=API_EMPTY_WRITE
    ),
    # --- flags -------------------------------------------------------------------------------
    **_api_resource(
        "api-flag",
        FLAG,
        list_=api_readers(),
        create=API_EMPTY_WRITE,
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
    ),
    "api-flag-kill": _api_action(api_managers(200), FLAG),
    "api-flag-restore": _api_action(api_managers(409), FLAG),  # it is not killed
    **_api_resource(
        "api-segment",
        pk("segment"),
        list_=api_readers(),
        create=API_EMPTY_WRITE,
        retrieve=api_readers(),
        update=api_managers(200),
        put=API_EMPTY_WRITE,
        destroy=api_managers(204),
    ),
}
