"""Prefect flows: thin wrappers over ``pipeline`` (which never imports prefect)."""

import os

# No network here, and no reason to phone home from a data pipeline.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The pipeline's own log records (a video's failure, a retry) reach the Prefect UI
# with the run's logs, not only stderr. Read when prefect is first imported.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")
