"""Runs over a corpus: ``extract`` (one process), the ingest flow's library half
(``ingest``: prepare, shards, finish), the merge into manifests, and metrics."""
