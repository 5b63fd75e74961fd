"""The processes a flow command starts die with it, even when it is killed with SIGKILL.

Prefect starts a temporary API server (a uvicorn child process) when no server is
configured, and stops it on a normal exit; a killed ``facecorpus ingest`` left it
running, holding its port and database. :func:`reap_on_exit` starts a small watcher
(``python -m flows.reaper PID``, in its own session so a group kill spares it) that
notes the command's descendants every ``POLL_S`` and, once the command is gone,
terminates those still running (SIGTERM, then SIGKILL after ``GRACE_S``). psutil
checks each process's start time before signalling, so a reused pid is never hit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

POLL_S = 0.5
GRACE_S = 3.0


def reap_on_exit() -> subprocess.Popen:
    """Start the watcher for this process; returns it (it exits by itself after this process)."""
    argv = [sys.executable, "-m", "flows.reaper", str(os.getpid())]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def watch(parent_pid: int) -> int:
    """Note ``parent_pid``'s descendants until it is gone, then end them; how many were ended."""
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
    left = [p for p in seen.values() if p.is_running()]
    for process in left:
        _quietly(process.terminate)
    _, survivors = psutil.wait_procs(left, timeout=GRACE_S)
    for process in survivors:
        _quietly(process.kill)
    return len(left)


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
    watch(int(sys.argv[1]))
