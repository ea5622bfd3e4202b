"""The checkout ``fmgw`` runs from: its defaults are the repository's files (``make install`` installs it editable)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPO_CONFIG = ROOT / "config" / "gateway.json"
