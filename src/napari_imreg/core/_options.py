"""The registration options: their names, choices and validation, in one place."""

from __future__ import annotations

from typing import Literal

Boundary = Literal["overlap", "wrap"]
BOUNDARIES = ("overlap", "wrap")
