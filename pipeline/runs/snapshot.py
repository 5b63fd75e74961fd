"""The DVC snapshot stage: the corpus listing (``snapshot.json``) and every input's probe row (``probe.parquet``)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.corpus.load import Corpus
from pipeline.corpus.snapshot import snapshot
from pipeline.fsutil import atomic_write_bytes, table_bytes
from pipeline.records import Status, to_table
from pipeline.stages.probe import ProbeStage
from schemas.manifests import PROBE_SCHEMA

SNAPSHOT_FILE = "snapshot.json"
PROBE_FILE = "probe.parquet"


def write_snapshot_stage(corpus: Corpus, out_dir: Path, denied: frozenset[str] = frozenset()) -> dict[str, int]:
    """Write the listing and the probe table into ``out_dir``; return the stage's metrics.
    ``denied``: erased video ids (the erasure log), left out of both."""
    inputs = [i for i in snapshot(corpus) if i.video_id not in denied]
    rows = list(ProbeStage().run(inputs))
    listing = [{"video_id": i.video_id, "uri": i.entry.uri, "duplicate_uris": list(i.duplicate_uris)} for i in inputs]
    atomic_write_bytes(Path(out_dir) / SNAPSHOT_FILE, json.dumps(listing, indent=1).encode(), skip_if_same=True)
    atomic_write_bytes(Path(out_dir) / PROBE_FILE, table_bytes(to_table(rows, PROBE_SCHEMA)), skip_if_same=True)
    return {
        "videos": len(inputs),
        "unreadable": sum(r.status is Status.FAILED for r in rows),
        "duplicates": sum(len(i.duplicate_uris) for i in inputs),
        "bytes": sum(i.size_bytes or 0 for i in inputs),
    }
