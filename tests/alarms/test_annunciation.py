"""The sound rules (Qt-free): what sounds, what Silence does, per-priority modes, the IEC 60601-1-8
patterns for bedside devices, and the generated tones themselves."""

from __future__ import annotations

import io
import wave

import numpy as np

from app.core.alarms import AlarmState, AlarmView
from app.core.alarms.annunciation import Annunciation, Convention, SoundMode, pattern


def view(aid: str, priority: str, state: str = "unack_active", device: str = "pump",
         first_out: float = 1.0) -> AlarmView:
    return AlarmView(id=aid, kind="HI", priority=priority, state=AlarmState(state), condition=True,
                     source=aid, device=device, description="", unit="", value=1.0, limit=None,
                     activated_at=first_out, last_change=first_out, first_out=first_out)


def test_the_highest_unacknowledged_priority_sounds_until_acknowledged() -> None:
    a = Annunciation()
    views = [view("a", "medium"), view("b", "high"), view("c", "urgent", "ack_active")]
    due = a.due(views, 0.0)
    assert due is not None and due.priority == "high" and due.alarms == ("a", "b")
    assert a.due([view("b", "high", "ack_active")], 1.0) is None  # acknowledged: quiet


def test_silence_lasts_its_time_and_a_higher_priority_breaks_it() -> None:
    a = Annunciation(silence_s=120.0)
    views = [view("a", "medium")]
    assert a.silence(views, 0.0) == 120.0
    assert a.due(views, 60.0) is None
    assert a.due([*views, view("b", "medium")], 61.0) is None  # same priority: still silenced
    due = a.due([*views, view("c", "high")], 62.0)
    assert due is not None and due.priority == "high"  # higher: sounds at once
    a.silence(views, 100.0)
    assert a.due(views, 219.0) is None and a.due(views, 221.0) is not None  # over after 120 s


def test_per_priority_modes_once_and_off() -> None:
    a = Annunciation({"low": "off", "medium": "once"})
    assert a.due([view("l", "low")], 0.0) is None
    med = [view("m", "medium")]
    assert a.due(med, 0.0) is not None
    a.played(med)
    assert a.due(med, 1.0) is None  # once per episode
    assert a.due([view("m", "medium", first_out=50.0)], 51.0) is not None  # a new episode sounds
    assert a.top(med) is not None  # still flashes until acknowledged
    assert a.modes["high"] is SoundMode.UNTIL_ACK


def test_bedside_devices_use_iec_60601_1_8_signals() -> None:
    a = Annunciation(conventions={"vitals": Convention.MEDICAL})
    due = a.due([view("hr", "high", device="vitals"), view("p", "high", device="pump")], 0.0)
    assert due is not None and due.convention is Convention.MEDICAL
    hi, med, low = (pattern(p, Convention.MEDICAL) for p in ("high", "medium", "low"))
    assert (hi.pulses, hi.colour, hi.flash_hz > med.flash_hz > 0) == (10, "red", True)
    assert (med.pulses, med.colour) == (3, "yellow")
    assert (low.pulses, low.colour, low.flash_hz) == (1, "cyan", 0.0)


def test_a_generated_burst_has_its_pulses() -> None:
    from app.ui.annunciator import SAMPLE_RATE, burst_wav

    p = pattern("medium", Convention.MEDICAL)
    with wave.open(io.BytesIO(burst_wav(p))) as w:
        assert w.getframerate() == SAMPLE_RATE and w.getnchannels() == 1
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
    assert abs(len(data) / SAMPLE_RATE - p.burst_s) < 0.01
    window = int(0.01 * SAMPLE_RATE)
    loud = np.sqrt(np.convolve(data ** 2, np.ones(window) / window, mode="same")) > 2000
    starts = np.flatnonzero(np.diff(loud.astype(int)) == 1)
    assert len(starts) + int(loud[0]) == p.pulses
