#!/usr/bin/env bash
# Builds the packaged Vigil (PyInstaller, one folder) into packaging/dist/vigil.
#
#   packaging/build.sh            build, then print the bundle's size
#
# Environment (optional): PYTHON (default .venv/bin/python), VIGIL_BUILD_DIR (PyInstaller's work
# folder, default packaging/build), VIGIL_DIST_DIR (default packaging/dist). The test suite points
# the last two at a temporary folder so it never touches a developer's build.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
WORK="${VIGIL_BUILD_DIR:-$HERE/build}"
DIST="${VIGIL_DIST_DIR:-$HERE/dist}"

[ -x "$PY" ] || { echo "build.sh: no Python at $PY (run packaging/dev-setup.sh first, or set PYTHON)" >&2; exit 2; }

if ! "$PY" -c 'import PyInstaller' 2>/dev/null; then
    echo "build.sh: installing the packaging extra (PyInstaller) into the venv"
    "$PY" -m pip install -q -e "$ROOT[packaging]"
fi

# --clean: no stale analysis from an older tree; --noconfirm: replace the previous dist/vigil
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --workpath "$WORK" --distpath "$DIST" "$HERE/vigil.spec"

BUNDLE="$DIST/vigil"
# drop-in plugins go next to the executable (app.core.paths.frozen_plugins_dir)
mkdir -p "$BUNDLE/plugins"
cat > "$BUNDLE/plugins/README.txt" <<'TXT'
Drop-in plugins for this Vigil installation.

Put each plugin in its own folder here (a folder holding plugin.toml and its package), then
check it with:   vigil plugins list     and   vigil plugins check <folder>
Folders whose name starts with "_" or "." are ignored. A plugin may import the Python standard
library modules and the libraries this build carries (numpy, scikit-learn, scipy, pymodbus) and
the Vigil SDK (app.sdk). The plugin guide is _internal/plugins/GUIDE.md in this folder.
TXT

echo "built $BUNDLE"
echo "bundle size: $(du -sh "$BUNDLE" | cut -f1) ($(du -sb "$BUNDLE" | cut -f1) bytes)"
