#!/usr/bin/env bash
# Set up (if needed), then run the main job: napari with the sample pair and the
# registration widget docked; with no display, the same registration headless.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/setup.sh"
cd "$here"
python -m napari_imreg "$@"
