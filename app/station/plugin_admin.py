"""Enabling and disabling plugins: a role-checked action like every other one.

Disabling ``vigil.modbus`` stops all monitoring at the next start, so the change needs the
``plugin.manage`` permission from a session the account store issued (checked whether or not
the caller managed to open the journal), and it is journaled. Before any account exists
(commissioning) the change is made as ``commissioning_actor`` (the OS user).

Approving a plugin that is not built in (`app.plugin_host.trust`) needs ``plugin.approve``,
which is not in the role table and so, like every unlisted permission, an administrator's.
"""

from __future__ import annotations

from app.core.errors import VigilError
from app.core.journal import Journal
from app.core.users import Authorizer, PermissionDenied, Role, Session, UserStore
from app.plugin_host import PluginHost
from app.plugin_host.loader import fingerprint


def set_plugin_enabled(
    host: PluginHost,
    users: UserStore,
    authz: Authorizer,
    session: Session | None,
    plugin_id: str,
    enabled: bool,
    *,
    commissioning_actor: str,
) -> str:
    """Check ``session`` and its role, then persist the change; returns who made it.

    Raises `PermissionDenied` / `AuthError` (journaled) when it may not, and whatever the
    disabled list raises when it cannot be written (a corrupt list is never overwritten)."""
    actor = _acting(users, authz, session, "plugin.manage", commissioning_actor,
                    plugin=plugin_id, enabled=enabled)
    host.set_enabled(plugin_id, enabled, actor=actor)
    return actor


def approve_plugin(
    host: PluginHost,
    users: UserStore,
    authz: Authorizer,
    session: Session | None,
    plugin_id: str,
    journal: Journal,
    *,
    commissioning_actor: str,
    expected_sha256: str | None = None,
) -> tuple[str, str]:
    """Approve a plugin that is not built in, as it is on disk now: ``plugin.approve`` (an
    administrator's permission), checked like `set_plugin_enabled`. The approval is journaled
    as a critical event and this waits until it is committed and sealed by a signed checkpoint,
    so it exists before the plugin's code can be imported at the next start. Returns (who,
    SHA-256). Raises when it may not, or when the journal could not seal it in time.

    ``expected_sha256``: the digest the person was shown (the window's confirmation); files
    that changed since are refused, so what is approved is what was looked at."""
    actor = _acting(users, authz, session, "plugin.approve", commissioning_actor, plugin=plugin_id)
    if expected_sha256 is not None:
        rec = host.record(plugin_id)
        try:
            now = fingerprint(rec.location)[0] if rec is not None else ""
        except OSError as e:
            raise VigilError(f"'{plugin_id}' not approved: its files cannot be read ({e})") from None
        if now != expected_sha256:
            raise VigilError(f"'{plugin_id}' not approved: its files changed since they were shown "
                             f"(SHA-256 now {now[:16]}..., shown {expected_sha256[:16]}...); look again")
    digest = host.approve(plugin_id, actor)
    if not journal.flush(timeout=30.0):
        raise VigilError(f"the journal did not confirm the approval of '{plugin_id}' in time; "
                         "check `vigil plugins list` before relying on it")
    return actor, digest


def _acting(
    users: UserStore,
    authz: Authorizer,
    session: Session | None,
    permission: str,
    commissioning_actor: str,
    **detail: object,
) -> str:
    """Who may make a plugin change: the session's user when it is live and its role holds
    ``permission``; with no session, the commissioning actor only while no account exists.
    Refusals raise (and are journaled by ``authz``)."""
    if session is None:
        if not users.is_empty():
            authz.require(Session("anonymous", Role.VIEWER, 0.0), permission, **detail)
            raise PermissionDenied("anonymous", Role.VIEWER, permission)  # unreachable
        return commissioning_actor
    users.check_session(session)
    authz.require(session, permission, **detail)
    return session.user
