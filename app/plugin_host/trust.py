"""Plugin approval: a plugin that is not built in runs only once an administrator has approved
its id and the SHA-256 of its files.

A plugin runs inside Vigil's process with Vigil's rights, so a folder dropped into the user
plugins folder must not be imported just because it is there. An approval is a critical
``plugin.approved`` event in the signed journal (``{"plugin": id, "sha256": digest}``); a
critical event is sealed by a signed checkpoint in the same commit, and the approval is only
taken from events already committed, so it is sealed before the code it names is ever imported.
The approved digest covers every file of the plugin: a changed file (an update, or tampering)
needs approval again. ``plugin.approval_revoked`` withdraws one.

The journal is the only record: no side file that a person (or a plugin) could edit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from app.core.errors import VigilError
from app.plugin_host.records import PluginRecord, Source

log = logging.getLogger(__name__)

APPROVED = "plugin.approved"
REVOKED = "plugin.approval_revoked"


def needs_approval(rec: PluginRecord) -> bool:
    """Built-in plugins ship with Vigil itself; every other source needs an approval."""
    return rec.source is not Source.BUILTIN


def approvals_from(events: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """Plugin id -> approved SHA-256, from ``(kind, body)`` journal events in order: the last
    approval of an id wins, a revocation removes it."""
    approved: dict[str, str] = {}
    for kind, body in events:
        plugin, digest = body.get("plugin"), body.get("sha256")
        if not isinstance(plugin, str):
            continue
        if kind == APPROVED and isinstance(digest, str) and len(digest) == 64:
            approved[plugin] = digest
        elif kind == REVOKED:
            approved.pop(plugin, None)
    return approved


def journal_approvals(journal_dir: Path) -> dict[str, str]:
    """The approvals committed in the journal at ``journal_dir`` (none in a new journal).

    Fails closed: a journal that cannot be read approves nothing (logged), so every plugin
    that needs an approval stays off rather than every one being let through."""
    from app.core.journal.reader import read_events
    from app.core.journal.store import db_path

    if not db_path(journal_dir).exists():
        return {}
    try:
        events = read_events(journal_dir, kind="plugin.")
    except VigilError as e:
        log.warning("plugin approvals unreadable (%s): no plugin that needs one is loaded", e)
        return {}
    return approvals_from((e.kind, e.body) for e in events if e.kind in (APPROVED, REVOKED))


def unapproved_reason(plugin_id: str, digest: str, approved: str | None) -> str:
    """What ``vigil plugins list`` and the window say about a plugin held back."""
    if approved is None:
        return (f"awaiting approval: new plugin, SHA-256 {digest[:16]}... not approved by an "
                f"administrator (vigil plugins approve {plugin_id})")
    return (f"awaiting approval: its files changed since they were approved (approved "
            f"{approved[:16]}..., now {digest[:16]}...); check the change, then approve it again")
