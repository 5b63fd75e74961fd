"""Probe in a child process that the per-input deadline can kill.

PyAV runs in-process and cannot be interrupted: a demuxer that never returns (a
reader that blocks, a parser that loops) or a decoder that allocates without bound
would hang or sink the whole run. :func:`probe_within` hands the probe to a child
process (``python -m pipeline.media.isolate``, one per thread, kept between inputs:
JSON lines in and out) and kills it when the deadline passes (a
:class:`VideoTimeout`, as for the decoder); the next probe starts a fresh one. A
child that dies (a crash in libav) fails that input, named.

Cost (``python -m bench.probe_isolation``, bench/RESULTS.md): a child started per
probe cost 1.1-1.7 s each on the shared 2-core machine (interpreter, numpy, pyarrow
and PyAV imports), so the child is kept: the start is paid once per thread and after
each kill, and a probe costs the in-process time plus a pipe round trip.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path

from pipeline.errors import MediaError, VideoTimeout
from pipeline.media.ffmpeg import Deadline
from pipeline.media.probe import DEFAULT_MAX_PIXELS, ProbeInfo, probe

# Without a deadline a probe still ends: this is the most it may take.
MAX_PROBE_S = 600.0
_local = threading.local()


def probe_start() -> None:
    """Start this thread's probe child without waiting for it: its imports (0.2-0.25 s on an idle
    2-core machine) then run while this process loads models; :func:`probe_ready` waits for it."""
    _worker()


def probe_ready() -> None:
    """Start this thread's probe child (unless :func:`probe_start` did) and wait until it answers (its
    imports done), so that its start is not charged to an input's deadline (as the detector's model
    load is not)."""
    worker = _worker()
    try:
        worker.stdin.write(b"[]\n")
        worker.stdin.flush()
        line = _read_line(worker, MAX_PROBE_S)
    except BrokenPipeError:
        line = b""
    if not line:
        _stop(worker)
        raise MediaError("the probe process did not start")


def _worker() -> subprocess.Popen:
    worker = getattr(_local, "worker", None)
    if worker is None or worker.poll() is not None:
        worker = _local.worker = _start()
    return worker


def probe_within(path: Path, deadline: Deadline | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> ProbeInfo:
    """:func:`probe` ``path`` in this thread's child process, killed when ``deadline`` passes."""
    name = Path(path).name
    worker = _worker()
    budget_s = max(deadline.remaining_s(), 0.0) if deadline else MAX_PROBE_S
    try:
        worker.stdin.write((json.dumps([str(path), max_pixels]) + "\n").encode())
        worker.stdin.flush()
        line = _read_line(worker, budget_s)
    except BrokenPipeError:
        line = b""
    if line is None:
        _stop(worker)
        limit = deadline.timeout_s if deadline else MAX_PROBE_S
        raise VideoTimeout(f"{name}: still probing after the {limit:g} s timeout; the probe was killed")
    if not line:
        rc = _stop(worker)
        how = f"signal {-rc}" if rc is not None and rc < 0 else f"exit {rc}"
        raise MediaError(f"{name}: probing crashed ({how})")
    answer = json.loads(line)
    if "error" in answer:
        raise MediaError(answer["error"])
    return ProbeInfo(**answer["info"])


def _start() -> subprocess.Popen:
    argv = [sys.executable, "-m", "pipeline.media.isolate"]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _read_line(worker: subprocess.Popen, budget_s: float) -> bytes | None:
    """One answer line; None when ``budget_s`` passes first; b"" when the child ended."""
    fd = worker.stdout.fileno()
    chunks = []
    remaining = budget_s
    clock = Deadline.after(budget_s)
    while True:
        ready, _, _ = select.select([fd], [], [], max(remaining, 0.0))
        if not ready:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b""
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)
        remaining = clock.remaining_s()


def _stop(worker: subprocess.Popen) -> int | None:
    worker.kill()
    rc = worker.wait()
    _local.worker = None
    return rc


def _serve() -> int:
    import av  # noqa: F401  (PyAV loads before the first answer, so no input's deadline pays for it)

    for line in sys.stdin:
        request = json.loads(line)
        if not request:  # probe_ready's ping
            sys.stdout.write("{}\n")
            sys.stdout.flush()
            continue
        path, max_pixels = Path(request[0]), request[1]
        try:
            answer = {"info": dataclasses.asdict(probe(path, max_pixels))}
        except MediaError as exc:
            answer = {"error": str(exc)}
        except Exception as exc:  # an unexpected error is this input's failure, named
            answer = {"error": f"{path.name}: probe failed ({type(exc).__name__}: {exc})"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
