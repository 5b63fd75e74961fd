"""One measurement in its own process, so its peak RSS and CPU time are its own.

    .venv/bin/python bench/measure.py '{"kind": "decode", "path": "...", "spec": "fps:1"}'

Prints one line ``BENCH-RESULT {json}``: ``wall_s`` and ``cpu_s`` (user +
system seconds of this process and its finished children, i.e. ffmpeg) of the
timed part, the measurement's counts, ``rss_mb`` (this process's peak resident
set, exact), ``ffmpeg_rss_mb`` (the largest ffmpeg child's peak, VmHWM read every
20 ms while it runs), ``tree_rss_mb`` (the largest sum of this process's and its
ffmpeg children's resident sets seen by the same polling), and the 1-minute load
average before and after. (``getrusage(RUSAGE_CHILDREN)`` would not do for
ffmpeg: a forked child's maxrss counts the parent's pages it shared before exec.)
``bench/run.py`` runs these and builds the tables; the kinds:

- ``decode``: the ffmpeg runs the sampling makes (its seek plan, or the one full
  pass with ``"seek": false``), each writing to the null muxer: decode, select,
  RGB conversion, nothing read back;
- ``decode_all``: every frame decoded to null (no select, no conversion): the
  cost of a full decode;
- ``detect``: the detector on the sampled frames, decoded beforehand into a
  scratch file, only the ``detect`` calls timed (one frame per call: detectors
  no longer batch);
- ``pipeline``: ``run_extract`` on a corpus (the detector loaded first), and its
  rerun on the unchanged corpus with ``"rerun": true``; with ``"workers"`` the
  ingest flow's library half (``prepare``, ``run_shard``, ``finish``) instead;
- ``flow``: the Prefect ``ingest`` flow, against a test server started
  beforehand, and its rerun on the unchanged corpus;
- ``naive``: ``cv2.VideoCapture`` reading every frame, the detector at full
  resolution on each sampled frame, ``cv2.imwrite`` of each face box.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.breakdown import measure_breakdown  # noqa: E402
from pipeline.detection.base import DEFAULT_DET_MAX_SIDE, DetectorConfig  # noqa: E402
from pipeline.detection.registry import make_detector  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402
from pipeline.media.probe import probe  # noqa: E402
from pipeline.media.sampling import iter_frames  # noqa: E402
from pipeline.media.seek import seek_plan, segment_command  # noqa: E402
from pipeline.media.spec import SampleSpec, build_command  # noqa: E402

RESULT_PREFIX = "BENCH-RESULT "
DETECT_CHUNK_FRAMES = 16


def _load() -> float:
    return os.getloadavg()[0]


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class RssPoller:
    """Peaks of the ffmpeg children's resident sets, and of this process plus them."""

    def __init__(self, every_s: float = 0.02) -> None:
        self.ffmpeg_kb = 0
        self.tree_kb = 0
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self._every_s):
            total = _status_kb(me, "VmRSS")
            for pid in _children(me):
                if _comm(pid).startswith("ffmpeg"):
                    self.ffmpeg_kb = max(self.ffmpeg_kb, _status_kb(pid, "VmHWM"))
                    total += _status_kb(pid, "VmRSS")
            self.tree_kb = max(self.tree_kb, total)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _children(pid: int) -> list[int]:
    found = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in tasks.read_text().split()]
        except OSError:
            continue
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Timed:
    """Wall and CPU seconds of a ``with`` block, added up over several blocks."""

    def __init__(self) -> None:
        self.wall_s = 0.0
        self.cpu_s = 0.0

    def __enter__(self) -> Timed:
        self._wall, self._cpu = time.perf_counter(), _cpu_s()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s += time.perf_counter() - self._wall
        self.cpu_s += _cpu_s() - self._cpu

    def fields(self, prefix: str = "") -> dict:
        return {f"{prefix}wall_s": self.wall_s, f"{prefix}cpu_s": self.cpu_s}


def sampling_commands(path: Path, spec: SampleSpec, seek: bool) -> list[list[str]]:
    """The ffmpeg argvs iter_frames runs for ``spec`` on ``path``."""
    info = probe(path)
    segments = seek_plan(path, spec, info) if seek else None
    if segments is None:
        return [build_command(path, spec, info)]
    return [segment_command(path, segment) for segment in segments]


def to_null(argv: list[str]) -> list[str]:
    """The same ffmpeg run, its output going to the null muxer instead of the pipe."""
    swap = {"image2pipe": "null", "pipe:": "-"}
    return [swap.get(arg, arg) for arg in argv]


def measure_decode(req: dict) -> dict:
    path, spec = Path(req["path"]), SampleSpec.parse(req["spec"])
    commands = [to_null(argv) for argv in sampling_commands(path, spec, req.get("seek", True))]
    with Timed() as timed:
        for argv in commands:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {**timed.fields(), "ffmpeg_runs": len(commands)}


def measure_decode_all(req: dict) -> dict:
    argv = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", req["path"], "-map", "0:v:0", "-f", "null", "-"]
    with Timed() as timed:
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    return {**timed.fields(), "ffmpeg_runs": 1}


def measure_detect(req: dict) -> dict:
    """Frames go to a scratch file first (ffmpeg is done before any timing), then
    are read back in chunks; only the detector calls are timed. (The ``batch``
    knob is gone: detectors have only ``detect``, one frame per call.)"""
    import numpy as np

    path, spec = Path(req["path"]), SampleSpec.parse(req["spec"])
    detector = make_detector(DetectorConfig(threads=req.get("threads", 0), det_max_side=req.get("det_max_side", DEFAULT_DET_MAX_SIDE)))
    scratch = Path(req["scratch"])
    shapes = []
    with open(scratch, "wb") as fh:
        for frame in iter_frames(path, spec, probe(path)):
            fh.write(frame.image_rgb.tobytes())
            shapes.append(frame.image_rgb.shape)
    detector.detect(np.zeros(shapes[0], np.uint8))  # warm-up: first-run allocations
    timed, faces = Timed(), 0
    with open(scratch, "rb") as fh:
        for start in range(0, len(shapes), DETECT_CHUNK_FRAMES):
            chunk = [
                np.frombuffer(fh.read(math.prod(shape)), np.uint8).reshape(shape) for shape in shapes[start : start + DETECT_CHUNK_FRAMES]
            ]
            with timed:
                for image in chunk:
                    faces += len(detector.detect(image))
    scratch.unlink()
    return {**timed.fields(), "frames": len(shapes), "faces": faces, "threads": req.get("threads", 0)}


@contextlib.contextmanager
def _pipeline_knobs(req: dict):
    """Bench-only switches, to measure each means against its absence: ``seek``
    false (one plain pass: no seeking, no dropping), ``prefetch`` (frames decoded
    ahead; 0: none), ``spin`` true (onnxruntime's threads spin while waiting, its
    default), ``pool_threads`` (onnxruntime threads per worker in the ingest pool,
    instead of the cores split among the workers), ``ffmpeg_threads`` (ffmpeg's
    decoder threads; default: ffmpeg's own choice, one per core). Restored
    afterwards. (The former ``cpu_batch`` knob, frames per detector run on the
    CPU, is gone: detectors no longer batch, one frame per run.)"""
    import pipeline.detection.centerface as centerface
    import pipeline.media.sampling as sampling
    import pipeline.media.spec as spec
    import pipeline.stages.video as video
    from pipeline.config import IngestOptions

    # spec.ffmpeg is the ffmpeg-python module: its ``input`` builds both the full
    # pass (media.spec.build_command) and the seeking runs (media.seek.segment_command).
    pool_for, ffmpeg_input = IngestOptions.pool_for, spec.ffmpeg.input
    changes = []  # (owner, attribute, bench value)
    if not req.get("seek", True):
        changes.append((sampling, "seek_plan", lambda *args: None))
    if "prefetch" in req:
        changes.append((video, "PREFETCH_FRAMES", req["prefetch"]))
    if req.get("spin", False):
        changes.append((centerface, "session_options", _spinning(centerface.session_options)))
    if req.get("pool_threads"):
        changes.append((IngestOptions, "pool_for", lambda self, n, cores=None: (pool_for(self, n, cores)[0], req["pool_threads"])))
    if req.get("ffmpeg_threads"):
        changes.append(
            (spec.ffmpeg, "input", lambda filename, **kwargs: ffmpeg_input(filename, **{"threads": req["ffmpeg_threads"], **kwargs}))
        )
    with contextlib.ExitStack() as stack:
        for owner, attribute, value in changes:
            stack.enter_context(mock.patch.object(owner, attribute, value))
        yield


def _spinning(session_options):
    def options(threads=None):
        opts = session_options(threads)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "1")
        return opts

    return options


def measure_pipeline(req: dict) -> dict:
    from pipeline.records import spare_pandas

    spare_pandas()  # as `facecorpus` does before any command (pipeline/cli/main.py)
    corpus, out = Path(req["corpus"]), Path(req["out"])
    extract = {"sample": req["spec"], **req.get("options", {})}
    with _pipeline_knobs(req):
        if req.get("workers") is None:
            result = _run_extract_timed(corpus, out, extract, req.get("threads", 0), req.get("rerun", False), req.get("merge", True))
        else:
            result = _run_ingest_timed(corpus, out, extract, req["workers"])
    return result


def _options(corpus: Path, out: Path, extract: dict, ingest: dict | None = None):
    """The pipeline's Options: defaults, with ``extract`` (and ``ingest``) keys replaced."""
    from pipeline.config import Options

    return Options().merged({"extract": {"corpus": str(corpus), "out": str(out), **extract}, "ingest": ingest or {}})


def _run_extract_timed(corpus: Path, out: Path, extract: dict, threads: int, rerun: bool, merge: bool = True) -> dict:
    """``merge`` false: the video pass alone (snapshot, probe, decode, detect, signatures,
    align, crops, work files), without curation and the manifests."""
    from pipeline.detection.centerface import THREADS_ENV
    from pipeline.runs.extract import run_extract

    if threads:
        # run_extract builds its detector with threads=0 (its default: the
        # $FACECORPUS_ORT_THREADS setting, else one per core); this process is the
        # measurement's own, so the setting is how ``threads`` reaches it.
        os.environ[THREADS_ENV] = str(threads)
    options = _options(corpus, out, extract).extract
    load_started = time.perf_counter()
    make_detector(options.detector_config())
    model_load_s = time.perf_counter() - load_started
    with Timed() as timed:
        summary = run_extract(options, merge=merge)
    result = {
        **timed.fields(),
        "frames": summary.frames_sampled,
        "faces": summary.faces,
        "videos": summary.videos_ok + summary.videos_failed,
        "failed": summary.videos_failed,
        "model_load_s": model_load_s,
    }
    if rerun:
        with Timed() as again_timed:
            again = run_extract(options, merge=merge)
        result.update(again_timed.fields("rerun_"), rerun_skipped=again.videos_reused)
    return result


def _run_ingest_timed(corpus: Path, out: Path, extract: dict, workers: int) -> dict:
    from pipeline.runs import ingest as lib

    options = _options(corpus, out, extract, {"workers": workers})
    make_detector(options.extract.detector_config(threads=options.ingest.pool_for(workers)[1]))
    with Timed() as timed:
        plan = lib.prepare(options)
        reports = [lib.run_shard(options, shard, plan.shard_inputs(shard)) for shard in plan.shards]
        report = lib.finish(options, plan, reports, time.perf_counter())
    return {
        **timed.fields(),
        "frames": report.frames,
        "faces": report.faces,
        "videos": report.videos,
        "failed": report.failed,
        "workers": options.ingest.worker_count(),
    }


def measure_flow(req: dict) -> dict:
    from prefect.testing.utilities import prefect_test_harness

    from flows.ingest import ingest

    options = _options(Path(req["corpus"]), Path(req["out"]), {"sample": req["spec"]})
    videos = sum(1 for p in Path(req["corpus"]).iterdir() if p.is_file())
    started = time.perf_counter()
    with prefect_test_harness(server_startup_timeout=180):
        server_start_s = time.perf_counter() - started
        make_detector(options.extract.detector_config(threads=options.ingest.pool_for(videos)[1]))
        with Timed() as timed:
            state = ingest(options.to_json(), return_state=True)
        report = state.result()
        validate_s = _task_seconds(state.state_details.flow_run_id, "validate")
        with Timed() as again:
            ingest(options.to_json())
    return {
        **timed.fields(),
        **again.fields("rerun_"),
        "frames": report.frames,
        "faces": report.faces,
        "videos": report.videos,
        "failed": report.failed,
        "server_start_s": server_start_s,
        "validate_s": validate_s,
    }


def _task_seconds(flow_run_id, task_name: str) -> float:
    """Run time of the flow run's tasks named ``task_name``, as the Prefect server recorded it."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sum(run.total_run_time.total_seconds() for run in runs if run.name.split("-")[0] == task_name)


def measure_naive(req: dict) -> dict:
    """What a first attempt looks like: OpenCV reads every frame, picks the first frame
    of each 1/N s step, runs the detector on it at full resolution, writes each box."""
    import cv2

    path, spec, out = Path(req["path"]), SampleSpec.parse(req["spec"]), Path(req["out"])
    if spec.mode != "fps":
        raise ValueError("the naive baseline samples fps:N only")
    out.mkdir(parents=True, exist_ok=True)
    width, height = probe(path).display_size_px
    detector = make_detector(DetectorConfig(det_max_side=max(width, height)))
    with Timed() as timed:
        frames, faces = _naive_loop(cv2, path, spec, detector, out)
    return {**timed.fields(), "frames": frames, "faces": faces, "det_max_side": max(width, height)}


def _naive_loop(cv2, path: Path, spec: SampleSpec, detector, out: Path) -> tuple[int, int]:
    capture = cv2.VideoCapture(str(path))
    frames = faces = 0
    first_s, last_step = None, -1
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        at_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        first_s = at_s if first_s is None else first_s
        step = math.floor((at_s - first_s) * spec.value + 1e-6)
        if step <= last_step:
            continue
        last_step = step
        for k, det in enumerate(detector.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))):
            x1, y1, x2, y2 = (int(v) for v in det.bbox_xyxy_px)
            cv2.imwrite(str(out / f"{frames:06d}_{k}.png"), bgr[y1:y2, x1:x2])
            faces += 1
        frames += 1
    capture.release()
    return frames, faces


KINDS = {
    "decode": measure_decode,
    "decode_all": measure_decode_all,
    "detect": measure_detect,
    "pipeline": measure_pipeline,
    "flow": measure_flow,
    "naive": measure_naive,
    "breakdown": lambda req: measure_breakdown(req, sampling_commands, to_null),
}


def main() -> None:
    req = json.loads(sys.argv[1])
    load_before = _load()
    poller = RssPoller()
    result = KINDS[req["kind"]](req)
    poller.stop()
    result.update(
        kind=req["kind"],
        rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        ffmpeg_rss_mb=poller.ffmpeg_kb / 1024,
        tree_rss_mb=poller.tree_kb / 1024,
        load_before=load_before,
        load_after=_load(),
    )
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
