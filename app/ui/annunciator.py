"""Audible and visual annunciation: the alarm sound, the flashing banner chip, Silence.

``app.core.alarms.annunciation`` decides *what* should sound; this plays it. Tones are
generated here (numpy, 16-bit mono WAV in a private temp folder), one file per pattern, and
played with ``QSoundEffect`` from QtMultimedia. QtMultimedia comes with PySide6-Addons and
links libpulse, so it is imported only when a sound server is there to talk to. Without one
(CI, many servers, a bundle without Addons) the annunciator says "audio unavailable" in the
window, keeps flashing, and claims nothing it did not do: no sound is ever journaled as played.
"""

from __future__ import annotations

import atexit
import io
import math
import os
import shutil
import tempfile
import time
import wave
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal

from app.core.alarms.annunciation import Annunciation, Convention, Due, Pattern, pattern

SAMPLE_RATE = 22_050
#: colours of the signal families; plant alarms use the palette's priority colours instead
SIGNAL_COLOURS = {"red": "#d32f2f", "yellow": "#f2c811", "cyan": "#00bcd4",
                  "orange": "#ef6c00", "blue": "#1e88e5"}


def burst_wav(p: Pattern, rate: int = SAMPLE_RATE) -> bytes:
    """One burst of the pattern as a WAV file: ``pulses`` sine tones with 10 ms ramps (no
    clicks), ``gap_s`` of silence between them."""
    n_pulse = int(p.pulse_s * rate)
    n_gap = int(p.gap_s * rate)
    t = np.arange(n_pulse) / rate
    tone = np.sin(2 * np.pi * p.freq_hz * t) + 0.3 * np.sin(2 * np.pi * 3 * p.freq_hz * t)
    ramp = min(int(0.01 * rate), n_pulse // 2)
    env = np.ones(n_pulse)
    if ramp:
        env[:ramp] = np.linspace(0.0, 1.0, ramp)
        env[-ramp:] = np.linspace(1.0, 0.0, ramp)
    pulse = (tone * env / 1.3 * 0.6 * 32767).astype(np.int16)
    gap = np.zeros(n_gap, dtype=np.int16)
    parts: list[np.ndarray] = []
    for i in range(p.pulses):
        parts.append(pulse)
        if i < p.pulses - 1:
            parts.append(gap)
    data = np.concatenate(parts)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return buf.getvalue()


def sound_server() -> str | None:
    """Where a PulseAudio-compatible server (PulseAudio or PipeWire's) listens, or None.
    Checked before QtMultimedia is touched: without a server it only fails noisily."""
    env = os.environ.get("PULSE_SERVER")
    if env:
        path = env.removeprefix("unix:")
        return env if not env.startswith(("unix:", "/")) or Path(path).exists() else None
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    for candidate in (Path(runtime) / "pulse" / "native", Path("/var/run/pulse/native")):
        if candidate.exists():
            return str(candidate)
    return None


class AudioOut:
    """The sound output, or the reason there is none. ``play(key)`` plays a prepared burst."""

    def __init__(self) -> None:
        self.available = False
        self.reason = ""
        self._effects: dict[str, Any] = {}
        self._dir: Path | None = None
        server = sound_server()
        if server is None:
            self.reason = "no sound server (PulseAudio/PipeWire) is running"
            return
        try:
            from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
        except ImportError as e:  # PySide6-Addons or libpulse missing
            self.reason = f"QtMultimedia cannot be loaded (PySide6-Addons, libpulse0): {e}"
            return
        outputs = QMediaDevices.audioOutputs()
        if not outputs:
            self.reason = f"the sound server at {server} offers no output device"
            return
        self._effect_cls = QSoundEffect
        self._device = QMediaDevices.defaultAudioOutput()
        self._dir = Path(tempfile.mkdtemp(prefix="vigil-tones-"))
        atexit.register(shutil.rmtree, self._dir, True)
        self.available = True
        self.reason = f"sound on {self._device.description()}"

    def prepare(self, key: str, p: Pattern) -> None:
        if not self.available or key in self._effects:
            return
        assert self._dir is not None
        path = self._dir / f"{key}.wav"
        path.write_bytes(burst_wav(p))
        effect = self._effect_cls()
        effect.setAudioDevice(self._device)
        effect.setSource(QUrl.fromLocalFile(str(path)))
        effect.setVolume(0.8)
        self._effects[key] = effect

    def play(self, key: str) -> bool:
        effect = self._effects.get(key)
        if effect is None:
            return False
        if effect.status() == self._effect_cls.Status.Error:
            self.available = False
            self.reason = "the sound output reported an error"
            return False
        effect.play()
        return True

    def stop(self) -> None:
        for effect in self._effects.values():
            effect.stop()


class Annunciator(QObject):
    """Plays the due pattern in bursts, flashes the banner chip, handles Silence.

    ``views`` returns the current alarm views; ``chip`` is the banner's priority chip (a
    QLabel) or None; ``scheme_colour(priority)`` gives the palette's priority colour.

    With ``poll`` (the default) it reads ``views`` ten times a second, for callers that have no
    signal when alarms change. The window passes ``poll=False`` and calls :meth:`wake` whenever
    its alarm list changes; between changes the annunciator sleeps until its next deadline (the
    next burst, the end of a silence), so a quiet plant costs no wake-ups. Flashing has its own
    timer, running only while something flashes.
    """

    changed = Signal()  # sounding / silenced / audio state changed (labels follow)

    def __init__(
        self,
        views: Callable[[], Iterable[Any]],
        policy: Annunciation,
        chip: Any = None,
        scheme_colour: Callable[[str], str] | None = None,
        audio: AudioOut | None = None,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
        *,
        poll: bool = True,
    ):
        super().__init__(parent)
        self._views = views
        self.policy = policy
        self.chip = chip
        self._colour = scheme_colour or (lambda _p: "#888888")
        self.audio = audio if audio is not None else AudioOut()
        self._clock = clock
        self.due: Due | None = None
        self.visual: Due | None = None
        self.bursts = 0  # bursts handed to the sound output (only when it is available)
        self._next_burst = 0.0
        self._burst_over = 0.0
        self._flash_on = True
        self._flash_base = ""
        self.poll = poll
        self._was_silenced = False
        self._timer = QTimer(self)
        if poll:
            self._timer.setInterval(100)
        else:  # one deadline at a time; precise, so a burst is not tried early and again
            self._timer.setSingleShot(True)
            self._timer.setTimerType(Qt.TimerType.PreciseTimer)
            self._timer.setInterval(0)
        self._timer.timeout.connect(self.tick)
        self._flash = QTimer(self)
        self._flash.timeout.connect(self._toggle_flash)
        for conv in Convention:
            for prio in ("urgent", "high", "medium", "low"):
                self.audio.prepare(f"{conv}-{prio}", pattern(prio, conv))
        self._timer.start()

    def wake(self) -> None:
        """The alarm list or the sound settings changed: look again as soon as the event loop
        is free (several changes in one go are looked at once)."""
        if not self.poll:
            self._timer.start(0)

    def tick(self) -> None:
        now = self._clock()
        views = list(self._views())
        due = self.policy.due(views, now)
        visual = self.policy.top(views)
        if visual != self.visual:
            if visual is None or self.visual is None or visual.pattern != self.visual.pattern:
                self._set_flash(visual)
            self.visual = visual
        if due != self.due:
            if due is None or self.due is None or due.pattern != self.due.pattern:
                self._next_burst = now  # a new (e.g. higher) pattern starts at once
            self.due = due
            if due is None:
                self.audio.stop()
            self.changed.emit()
        if due is not None and now >= self._next_burst:
            if self.audio.available and self.audio.play(f"{due.convention}-{due.priority}"):
                self.bursts += 1
            elif not self.audio.available:
                self.changed.emit()
            self.policy.played(views)
            self._next_burst = now + max(due.pattern.repeat_s, due.pattern.burst_s + 0.5)
            self._burst_over = now + due.pattern.burst_s + 0.1
        silenced = self.policy.is_silenced(now)
        if silenced != self._was_silenced:
            self._was_silenced = silenced
            if not silenced:
                self.changed.emit()  # the silence ran out: "silenced until" goes
        self._sleep_until_next(now)

    def _sleep_until_next(self, now: float) -> None:
        """Without polling: wake at the next thing that happens by itself, the next burst or
        the end of a silence (after which what is still unacknowledged sounds again)."""
        if self.poll:
            return
        deadlines = []
        if self.due is not None:
            deadlines.append(self._next_burst)
            if self._burst_over > now:  # a burst in "once" mode ends what is due: look then
                deadlines.append(self._burst_over)
        if self.policy.silenced_until is not None and self.policy.silenced_until > now:
            deadlines.append(self.policy.silenced_until)
        if not deadlines:
            self._timer.stop()
            return
        self._timer.start(max(1, math.ceil((min(deadlines) - now) * 1000)))

    def silence(self, duration_s: float | None = None) -> float:
        until = self.policy.silence(list(self._views()), self._clock(), duration_s)
        self.audio.stop()
        self.tick()
        self.changed.emit()
        return until

    # -- flashing: kept with or without sound ------------------------------------------------
    def _set_flash(self, due: Due | None) -> None:
        self._flash.stop()
        self._flash_on = True
        if due is None or self.chip is None:
            self._restore_chip()
            return
        p = due.pattern
        medical = due.convention is Convention.MEDICAL
        colour = SIGNAL_COLOURS[p.colour] if medical else self._colour(due.priority)
        self._flash_base = f"background:{colour}; color:black; font-weight:bold;"
        self.chip.setStyleSheet(self._flash_base)
        if p.flash_hz > 0:
            self._flash.start(int(500 / p.flash_hz))

    def _toggle_flash(self) -> None:
        if self.chip is None:
            return
        self._flash_on = not self._flash_on
        self.chip.setStyleSheet(self._flash_base if self._flash_on else "font-weight:bold;")

    def _restore_chip(self) -> None:
        self._flash_base = ""
        self.changed.emit()  # the banner puts its own chip style back

    @property
    def flashing(self) -> bool:
        return self._flash.isActive()

    def stop(self) -> None:
        self._timer.stop()
        self._flash.stop()
        self.audio.stop()
