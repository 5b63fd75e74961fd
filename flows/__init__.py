"""Prefect flows: thin wrappers over ``pipeline`` (which never imports prefect)."""

import os

# No network here, and no reason to phone home from a data pipeline.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
