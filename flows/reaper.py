"""The processes a flow command starts die with it, even when it is killed with SIGKILL.

Prefect starts a temporary API server (a uvicorn child process) when no server is
configured, and stops it on a normal exit; a killed ``facecorpus ingest`` left it
running, holding its port and database. :func:`reap_on_exit` marks the command's
environment with a token (every process it starts after that inherits it) and starts
a small watcher (``python -m flows.reaper PID TOKEN``, in its own session so a group
kill spares it) that notes the command's descendants every ``POLL_S``; once the
command is gone it terminates those, and any process carrying the token (one started
just before the kill, unseen yet, or reparented), with SIGTERM, then SIGKILL after
``GRACE_S``. psutil checks each process's start time before signalling, so a reused
pid is never hit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import psutil

POLL_S = 0.5
GRACE_S = 3.0
TOKEN_ENV = "FACECORPUS_RUN_TOKEN"


def reap_on_exit() -> subprocess.Popen:
    """Start the watcher for this process; returns it (it exits by itself after this process)."""
    token = os.environ[TOKEN_ENV] = uuid.uuid4().hex  # fresh: a token inherited from an outer run is not ours
    argv = [sys.executable, "-m", "flows.reaper", str(os.getpid()), token]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def watch(parent_pid: int, token: str = "") -> int:
    """Note ``parent_pid``'s descendants until it is gone, then end them and every process
    whose environment holds ``token``; how many were ended."""
    me = os.getpid()
    try:
        parent = psutil.Process(parent_pid)
    except psutil.NoSuchProcess:
        return 0
    seen: dict[int, psutil.Process] = {}
    while _alive(parent):
        try:
            seen.update({p.pid: p for p in parent.children(recursive=True) if p.pid != me})
        except psutil.Error:
            break
        time.sleep(POLL_S)
    seen.update({p.pid: p for p in _carrying(token, me)})
    left = [p for p in seen.values() if p.is_running()]
    for process in left:
        _quietly(process.terminate)
    _, survivors = psutil.wait_procs(left, timeout=GRACE_S)
    for process in survivors:
        _quietly(process.kill)
    return len(left)


def _carrying(token: str, me: int) -> list[psutil.Process]:
    """The processes (of this user) whose environment holds ``token``, this one excepted."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != me and token and process.environ().get(TOKEN_ENV) == token:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _quietly(action) -> None:
    try:
        action()
    except psutil.Error:
        pass


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
