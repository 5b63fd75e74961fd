"""Writing the report's files. The report is built in a fresh temp folder that replaces the old
report in one rename when complete (``build.py``), so its files are written plainly, with no
per-file temp file and fsync (hundreds of small images)."""

from __future__ import annotations

from pathlib import Path


def write(out: Path, relative: str, data: bytes) -> str:
    """Write ``data`` to ``out/relative``; returns ``relative`` (the link the pages use)."""
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return relative
