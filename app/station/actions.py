"""Role-checked operator actions: the one place where an action meets the plant.

Every action resolves the session it runs as (a forged, stale or ended session is refused),
asks the `Authorizer` (refusals are journaled as ``action.refused``), and only then touches the
alarm engine, the runtime's write path or the detector engine. The screen greys out what a role
may not do, but that is a courtesy: this service decides.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from app.core.alarms import AlarmEngine
from app.core.detection import DetectorEngine, ModelInfo
from app.core.errors import VigilError
from app.core.journal import Journal
from app.core.model import Value
from app.core.plant import Plant
from app.core.runtime import Runtime, WriteResult
from app.core.users import OPERATOR_MAX_SHELVE_S, Authorizer, Role, Session, UserStore, max_shelve_s
from app.station.login_watch import LoginWatch


class Actions:
    """The person at the console (``session``) and everything they may do to the plant."""

    def __init__(
        self,
        *,
        journal: Journal,
        users: UserStore,
        alarms: AlarmEngine,
        runtime: Runtime,
        detectors: DetectorEngine,
        plant: Plant,
    ):
        self.journal = journal
        self.users = users
        self.authz = Authorizer(journal)
        self.alarms = alarms
        self.runtime = runtime
        self.detectors = detectors
        self.plant = plant
        #: who is logged in at this console; None: nobody (view only)
        self.session: Session | None = None
        #: failed-log-in bursts and break-glass use raise technical alarms
        self.login_watch = LoginWatch(alarms)

    # ------------------------------------------------------------------ accounts
    def login(self, name: str, password: str) -> Session:
        try:
            session = self.users.authenticate(name, password)
        except VigilError:
            self.login_watch.failed(name)
            raise
        self.login_watch.succeeded(session)
        if self.session is not None and self.session.user != name:
            self.users.logout(self.session, reason=f"switch user to {name}")
        self.session = session
        return session

    def logout(self, reason: str = "logout") -> None:
        if self.session is not None:
            self.users.logout(self.session, reason=reason)
            self.login_watch.ended(self.session)
        self.session = None

    def resolve(self, session: Session | None) -> Session:
        """The session an action runs as. A logged-in session must still be one the user store
        issued and has not ended (logout, account disabled, role changed): forged or stale
        sessions are refused and journaled. Nobody logged in acts as an anonymous viewer."""
        s = session or self.session
        if s is None:
            return Session("anonymous", Role.VIEWER, time.time())
        try:
            self.users.check_session(s)
        except VigilError:
            if s is self.session:
                self.session = None
            raise
        return s

    def _require(self, s: Session, permission: str, **context: Any) -> None:
        """The role check, with the station of a remote session in every record: a refusal
        names it, and an allowed action from a remote workstation is journaled as
        ``action.remote`` (operator as actor, station in the body) before it runs, so the
        alarm engine's and detector engine's own records are tied to where the request came from."""
        where = {"station": s.station} if s.station else {}
        self.authz.require(s, permission, **context, **where)
        if s.station:
            self.journal.append("action.remote", s.user, {"permission": permission, **context, **where})

    # ------------------------------------------------------------------ alarms
    def acknowledge(self, alarm_ids: Sequence[str], session: Session | None = None) -> None:
        s = self.resolve(session)
        self._require(s, "alarm.acknowledge", alarms=list(alarm_ids))
        if len(alarm_ids) == 1:
            self.alarms.acknowledge(alarm_ids[0], s.user)
        else:
            self.alarms.acknowledge_all(list(alarm_ids), s.user)

    def shelve(self, alarm_id: str, reason: str, until_ts: float, session: Session | None = None) -> None:
        s = self.resolve(session)
        self._require(s, "alarm.shelve", alarm=alarm_id)
        if until_ts - time.time() > OPERATOR_MAX_SHELVE_S:
            self._require(s, "alarm.shelve_long", alarm=alarm_id, until=until_ts)
        medical = self._is_medical(alarm_id)
        cap = max_shelve_s(s.role, medical)
        if until_ts - time.time() > cap:
            what = "a vital-signs alarm" if medical else "an alarm"
            self.journal.append("action.refused", s.user, {
                "action": "alarm.shelve", "alarm": alarm_id, "until": until_ts, "role": s.role.label,
                "reason": f"longer than {cap / 3600:g} h"}, critical=True)
            raise VigilError(f"'{s.user}' ({s.role.label}) may shelve {what} for at most "
                             f"{cap / 3600:g} h; choose a shorter time")
        self.alarms.shelve(alarm_id, s.user, reason, until_ts)

    def _is_medical(self, alarm_id: str) -> bool:
        """Does the alarm belong to a vital-signs device (``alarm_signals = "medical"``)?"""
        try:
            device = self.alarms.alarm(alarm_id).device
        except (KeyError, VigilError):
            return False
        return self._is_medical_device(device)

    def _is_medical_device(self, device: str) -> bool:
        profile = self.plant.profiles.get(device)
        return profile is not None and getattr(profile.device, "alarm_signals", "plant") == "medical"

    def unshelve(self, alarm_id: str, session: Session | None = None) -> None:
        s = self.resolve(session)
        self._require(s, "alarm.shelve", alarm=alarm_id)
        self.alarms.unshelve(alarm_id, s.user)

    def set_out_of_service(
        self, alarm_id: str, on: bool, reason: str, session: Session | None = None
    ) -> None:
        s = self.resolve(session)
        self._require(s, "alarm.out_of_service", alarm=alarm_id)
        self.alarms.set_out_of_service(alarm_id, s.user, on, reason)

    # ------------------------------------------------------------------ plant
    def write_setpoint(
        self, device: str, point: str, value: Value, session: Session | None = None
    ) -> WriteResult:
        """Role-check, write with priority, read back, and journal old/new/read-back.

        On a vital-signs device the journal gets no value (it keeps everything forever; the
        historian's retention must be able to delete patient data): the write refers to the
        historian's sample of the tag at or before its time (``value_ref``)."""
        s = self.resolve(session)
        tag = f"{device}.{point}"
        private = self._is_medical_device(device)
        asked: dict[str, Any] = {"value_withheld": "vital-signs device"} if private else {"value": value}
        self._require(s, "setpoint.write", tag=tag, **asked)
        if any(d.name == device and d.unit == 0 for d in self.plant.devices):
            # unit 0 is Modbus broadcast: every device on the line would take the value
            why = "unit 0 is broadcast (every device on the line would take it)"
            self.journal.append("setpoint.refused", s.user,
                                {"tag": tag, **asked, "error": why, **_at(s)}, critical=True)
            raise VigilError(f"{tag}: not written: {why}")
        try:
            result = self.runtime.write(device, point, value)
        except Exception as e:
            # a driver's message may quote the value: on a vital-signs device only its kind
            error = f"the write failed ({type(e).__name__})" if private else str(e)
            self.journal.append("setpoint.failed", s.user,
                                {"tag": tag, **asked, "error": error, **_at(s)}, critical=True)
            raise
        values: dict[str, Any] = (
            {"value_ref": {"tag": tag, "t": time.time()}} if private
            else {"old": result.old, "new": result.new, "readback": result.readback})
        self.journal.append("setpoint.write", s.user, {"tag": tag, **values, **_at(s)}, critical=True)
        return result

    def note(self, text: str, session: Session | None = None) -> None:
        s = self.resolve(session)
        self._require(s, "journal.note")
        self.journal.append("note", s.user, {"text": text, **_at(s)})

    # ------------------------------------------------------------------ access audit
    def record_access(self, kind: str, scope: str, session: Session | None = None, *,
                      station: str | None = None) -> None:
        """Who read or exported patient or plant data, and what (HIPAA audit controls):
        journaled as ``access.<kind>`` with the user and the scope, never the values read.
        Nobody logged in is recorded as ``anonymous``; a forged session is refused. A remote
        workstation is named (its session's, or for nobody logged in there, ``station``)."""
        if not kind.replace("_", "").isalnum():
            raise VigilError(f"access kind '{kind}': letters, digits and '_' only")
        s = self.resolve(session)
        where = s.station or station
        self.journal.append(f"access.{kind}", s.user, {"scope": scope[:1000], "role": s.role.label,
                                                       **({"station": where} if where else {})})

    # ------------------------------------------------------------------ console: sound, closing
    def silence(self, sounding: Sequence[str], until_ts: float, *, audio: str,
                session: Session | None = None) -> None:
        """Silence the alarm sound (its own permission). Journaled with what was sounding and
        whether there was any audio at all, so the record never claims a sound that was not."""
        s = self.resolve(session)
        self._require(s, "alarm.silence")
        self.journal.append("alarm.silence", s.user,
                            {"alarms": list(sounding)[:100], "until": until_ts, "audio": audio, **_at(s)})

    def set_off_delay(self, alarm_id: str, seconds: float, session: Session | None = None) -> None:
        s = self.resolve(session)
        self._require(s, "config.edit", alarm=alarm_id, off_delay_s=seconds)
        self.alarms.set_off_delay(alarm_id, s.user, seconds)

    def authorize_close(self, session: Session | None = None) -> str:
        """May this session stop the embedded workstation (all polling, alarms, journal)?
        Raises (and journals the refusal) unless an engineer is logged in; returns the user."""
        s = self.resolve(session)
        self._require(s, "station.close")
        self.journal.append("station.close", s.user, {"embedded": True})
        return s.user

    def train_detector(
        self, group: str, t0: float, t1: float, session: Session | None = None, **kw: Any
    ) -> ModelInfo:
        s = self.resolve(session)
        self._require(s, "detector.train", group=group)
        return self.detectors.learn_normal(group, t0, t1, actor=s.user, **kw)


def _at(s: Session) -> dict[str, str]:
    """The ``station`` field of a journal body, for a remote workstation's session only."""
    return {"station": s.station} if s.station else {}
