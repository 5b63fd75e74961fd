"""Which Prefect API a command talks to: ``PREFECT_API_URL`` when set; else a server already running
at Prefect's default local address (found by asking its health URL); else Prefect's temporary server,
started for this one command, with a start-up timeout long enough for a busy machine, and a line
saying how to keep a server running instead (bench/prefect_server.py measures what that saves).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import httpx
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

# `prefect server start`'s default address.
LOCAL_API_URL = "http://127.0.0.1:4200/api"
# Prefect's default start-up timeout (20 s) was too short on this 2-core machine under load (load
# average 9: the temporary server timed out and `ingest` failed); 120 s leaves room.
EPHEMERAL_STARTUP_TIMEOUT_S = 120
HEALTH_TIMEOUT_S = 0.5


def running_server(url: str = LOCAL_API_URL) -> bool:
    """Whether a Prefect server answers at ``url`` (its /health), within half a second."""
    try:
        return httpx.get(f"{url}/health", timeout=HEALTH_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def prefect_api(url: str = LOCAL_API_URL) -> Iterator[str]:
    """Run the body against the API chosen as the module says; yields a line saying which."""
    if PREFECT_API_URL.value():
        yield f"Prefect server: {PREFECT_API_URL.value()} (PREFECT_API_URL)"
        return
    if running_server(url):
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield f"Prefect server: {url} (found running; PREFECT_API_URL unset)"
        return
    timeout = max(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value(), EPHEMERAL_STARTUP_TIMEOUT_S)
    with temporary_settings(updates={PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: timeout}):
        yield (
            "Prefect server: none running, so a temporary one starts for this command (about 10-20 s, "
            "bench/RESULTS.md); to skip that, keep one running: `.venv/bin/prefect server start --host 127.0.0.1` "
            f"(it is found at {url}, or export PREFECT_API_URL)"
        )


def announce(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
