"""Grey out the controls the person at the console may not use, and say which role they need.

This is a courtesy only: every action still goes through the core's role check (which journals
refusals), so a control that is enabled by mistake or by a stale screen is still refused.
Keeping the rule table (`PERMISSIONS`) in the core means the screen and the core cannot
disagree about who may do what.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from app.core.users import PERMISSIONS, Role, Session


def needed_role(permission: str) -> Role:
    """The least role holding ``permission`` (unknown permissions: administrator, like the core)."""
    return PERMISSIONS.get(permission, Role.ADMINISTRATOR)


def can(session: Session | None, permission: str) -> bool:
    """Nobody logged in means view only, exactly as the core treats an absent session."""
    return session is not None and session.can(permission)


def refusal_tip(session: Session | None, permission: str) -> str:
    """Why a control is greyed out, naming the role it needs and who is logged in now."""
    who = "nobody is logged in" if session is None else f"{session.user} is {session.role.label}"
    return f"needs the {needed_role(permission).label} role ({who})"


class RoleGate:
    """Controls (widgets or actions) tied to a permission, re-evaluated whenever the session
    changes. A control's own tooltip is kept and the reason appended while it is disabled."""

    def __init__(self) -> None:
        self._items: list[tuple[QWidget | QAction, str, str]] = []
        self.session: Session | None = None

    def add(self, control: QWidget | QAction, permission: str) -> None:
        self._items.append((control, permission, control.toolTip()))
        self._apply_one(control, permission, control.toolTip())

    def apply(self, session: Session | None) -> None:
        self.session = session
        for control, permission, tip in self._items:
            self._apply_one(control, permission, tip)

    def allows(self, permission: str) -> bool:
        return can(self.session, permission)

    def refresh(self, control: Any) -> None:
        """Re-apply one control (after code that toggles it for its own reasons, e.g. busy)."""
        for c, permission, tip in self._items:
            if c is control:
                self._apply_one(c, permission, tip)

    def _apply_one(self, control: QWidget | QAction, permission: str, tip: str) -> None:
        ok = can(self.session, permission)
        control.setEnabled(ok)
        if ok:
            control.setToolTip(tip)
        else:
            reason = refusal_tip(self.session, permission)
            control.setToolTip(f"{tip} — {reason}" if tip else reason.capitalize())
