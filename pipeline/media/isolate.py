"""Probe in a child process that the per-input deadline can kill.

PyAV runs in-process and cannot be interrupted: a demuxer that never returns (a
reader that blocks, a parser that loops) or a decoder that allocates without bound
would hang or sink the whole run. :func:`probe_within` runs
:func:`pipeline.media.probe.probe` in ``python -m pipeline.media.isolate`` and
kills it when the deadline passes (a :class:`VideoTimeout`, as for the decoder).
Cost, measured on this machine (``python -m bench.probe_isolation``): about
0.2 s a probe over the in-process one (the child's interpreter and PyAV's import),
against seconds of decoding per video.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from pipeline.errors import MediaError, VideoTimeout
from pipeline.media.ffmpeg import Deadline
from pipeline.media.probe import DEFAULT_MAX_PIXELS, ProbeInfo, probe

# Without a deadline a probe still ends: this is the most it may take.
MAX_PROBE_S = 600.0


def probe_within(path: Path, deadline: Deadline | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> ProbeInfo:
    """:func:`probe` ``path`` in a child process, killed when ``deadline`` passes."""
    name = Path(path).name
    budget_s = max(deadline.remaining_s(), 0.01) if deadline else MAX_PROBE_S
    argv = [sys.executable, "-m", "pipeline.media.isolate", str(path), str(max_pixels)]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=budget_s, check=False)
    except subprocess.TimeoutExpired as exc:
        limit = deadline.timeout_s if deadline else MAX_PROBE_S
        raise VideoTimeout(f"{name}: still probing after the {limit:g} s timeout; the probe was killed") from exc
    try:
        answer = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        raise MediaError(f"{name}: probing crashed ({how}: {tail[0][:200]})") from None
    if "error" in answer:
        raise MediaError(answer["error"])
    return ProbeInfo(**answer["info"])


def _main(argv: list[str]) -> int:
    path, max_pixels = Path(argv[0]), int(argv[1])
    try:
        answer = {"info": dataclasses.asdict(probe(path, max_pixels))}
    except MediaError as exc:
        answer = {"error": str(exc)}
    except Exception as exc:  # an unexpected error is this input's failure, named
        answer = {"error": f"{path.name}: probe failed ({type(exc).__name__}: {exc})"}
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
