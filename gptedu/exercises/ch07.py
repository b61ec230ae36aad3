"""Chapter 07's build exercises (filled in by issue 25)."""
from __future__ import annotations
