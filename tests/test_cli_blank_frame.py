"""The command line on a stack with a frame that has no valid pixel (issue 17, item 9).

The real ``napari-imreg`` runs in a subprocess on a real file in a temporary folder.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import napari_imreg
from napari_imreg.core import make_extended, make_shifted

SOURCE = str(Path(napari_imreg.__file__).parents[1])
COMMAND = [sys.executable, "-c", "import sys; from napari_imreg.cli import main; sys.exit(main())"]


def test_a_blank_frame_exits_3_naming_it_and_keeps_the_other_rows(tmp_path):
    image = make_extended(48, seed=0)
    stack = np.stack([make_shifted(image, (0.3 * i, 0.0), noise=0.02, seed=i) for i in range(5)])
    stack[2] = np.nan
    np.save(tmp_path / "stack.npy", stack)
    path = os.pathsep.join(filter(None, [SOURCE, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [*COMMAND, "stack", "stack.npy", "-o", "shifts.csv"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
    )
    assert done.returncode == 3, done.stderr
    assert "frame 2 was not measured" in done.stderr
    assert "(frames 2)" in done.stderr
    with open(tmp_path / "shifts.csv", newline="") as file:
        rows = [row for row in csv.reader(file) if row and not row[0].startswith("#")]
    assert len(rows) == 6  # the header and five frames
    body = np.array([[float(v) for v in row[1:3]] for row in rows[1:]])
    assert np.isnan(body[2]).all()
    np.testing.assert_allclose(np.delete(body, 2, axis=0)[:, 0], [0, 0.3, 0.9, 1.2], atol=0.03)
