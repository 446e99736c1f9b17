#!/usr/bin/env bash
# Sets up a working Vigil checkout on a fresh Debian/Ubuntu machine with only Python 3.11+:
# the system libraries Qt needs (when run as root and they are missing), a virtual environment
# in .venv, and Vigil installed into it in editable mode with the test tools.
# Safe to run again: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
    echo "Vigil needs Python 3.11 or newer; $PY is $("$PY" --version 2>&1)" >&2; exit 1; }

# Qt's offscreen and xcb (X11) platforms need these shared libraries; a desktop install has
# most of them, but Qt >= 6.5 also wants libxcb-cursor0 and friends, which minimal systems lack.
QT_LIBS="libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxcb-sync1 libxcb-shm0"
if command -v dpkg-query >/dev/null 2>&1; then
    missing=""
    for p in $QT_LIBS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "installing Qt runtime libraries:$missing"
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; } \
                || echo "warning: could not install:$missing (Qt may not start)" >&2
        else
            echo "note: Qt may need:$missing (sudo apt-get install$missing)" >&2
        fi
    fi
fi

# Alarm sound: QtMultimedia (PySide6-Addons) links libpulse0; the sound test starts its own
# PulseAudio server with a null sink and records it (pulseaudio, parec from pulseaudio-utils).
SOUND_PKGS="libpulse0 pulseaudio pulseaudio-utils"
if command -v dpkg-query >/dev/null 2>&1; then
    missing=""
    for p in $SOUND_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
        echo "installing sound libraries:$missing"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; } \
            || echo "warning: could not install:$missing (alarm sound unavailable)" >&2
    elif [ -n "$missing" ]; then
        echo "note: the alarm sound needs:$missing (sudo apt-get install$missing)" >&2
    fi
fi

# The node and remote stations talk through an MQTT broker; the tests start their own Mosquitto
# (Debian package) on a free 127.0.0.1 port. The packaged system service is not wanted here.
MQTT_PKGS="mosquitto"
if command -v dpkg-query >/dev/null 2>&1; then
    missing=""
    for p in $MQTT_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
        echo "installing the MQTT broker:$missing"
        if DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq $missing >/dev/null; then
            # apt may start the system broker on port 1883; tests start their own
            command -v systemctl >/dev/null 2>&1 && systemctl disable --now mosquitto >/dev/null 2>&1 || true
        else
            echo "warning: could not install:$missing (node and broker tests will fail)" >&2
        fi
    elif [ -n "$missing" ]; then
        echo "note: the node and its tests need the Mosquitto broker:$missing (sudo apt-get install$missing)" >&2
    fi
fi

"$PY" -c 'import venv, ensurepip' 2>/dev/null || {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.vigil-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi
