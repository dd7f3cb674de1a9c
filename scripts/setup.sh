#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (root, no display): the system
# libraries a headless napari needs, a virtual environment in .venv, and the
# project with its napari and test extras. Sourced by run.sh and test.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"

need_apt=0
for lib in /usr/bin/Xvfb /usr/bin/xauth; do [ -e "$lib" ] || need_apt=1; done
ldconfig -p | grep -q libxcb-cursor.so.0 || need_apt=1
ldconfig -p | grep -q libxkbcommon-x11.so.0 || need_apt=1
ldconfig -p | grep -q libEGL.so.1 || need_apt=1
if [ "$need_apt" = 1 ]; then
    echo "setup: installing Xvfb and the Qt/xcb libraries (apt)" >&2
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
        --no-upgrade xvfb xauth libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 libglib2.0-0 \
        libfontconfig1 libdbus-1-3 libx11-xcb1 libxkbcommon-x11-0 libxcb-cursor0 \
        libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
        libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv" >&2
    python3 -m venv "$venv"
fi
stamp="$venv/.installed-$(sha1sum "$here/pyproject.toml" | cut -c1-12)"
if [ ! -e "$stamp" ]; then
    echo "setup: installing napari-imreg[test] into $venv (a few minutes the first time)" >&2
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$venv/bin/python" -m pip install -q -e "$here[test]"
    touch "$stamp"
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/napari-imreg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export PATH="$venv/bin:$PATH"
