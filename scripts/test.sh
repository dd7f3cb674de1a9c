#!/usr/bin/env bash
# Set up (if needed), then lint, validate the napari manifest and run the tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/setup.sh"
cd "$here"
ruff check .
ruff format --check .
npe2 validate --imports napari-imreg
python -m pytest "$@"
