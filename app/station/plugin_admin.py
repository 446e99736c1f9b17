"""Enabling and disabling plugins: a role-checked action like every other one.

Disabling ``vigil.modbus`` stops all monitoring at the next start, so the change needs the
``plugin.manage`` permission from a session the account store issued (checked whether or not
the caller managed to open the journal), and it is journaled. Before any account exists
(commissioning) the change is made as ``commissioning_actor`` (the OS user).
"""

from __future__ import annotations

from app.core.users import Authorizer, PermissionDenied, Role, Session, UserStore
from app.plugin_host import PluginHost


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
    if session is None:
        if not users.is_empty():
            authz.require(Session("anonymous", Role.VIEWER, 0.0), "plugin.manage", plugin=plugin_id)
            raise PermissionDenied("anonymous", Role.VIEWER, "plugin.manage")  # unreachable
        actor = commissioning_actor
    else:
        users.check_session(session)
        authz.require(session, "plugin.manage", plugin=plugin_id, enabled=enabled)
        actor = session.user
    host.set_enabled(plugin_id, enabled, actor=actor)
    return actor
