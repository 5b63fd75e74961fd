"""Device check: CenterFace on onnxruntime's CUDA provider against the CPU, in one call.

    .venv/bin/python bench/gpu_check.py [--frames 32] [--fixtures ../shared/fixtures]

Self-contained (no network; writes only temporary folders). Prints
what it finds and ends with one ``GPU-CHECK {json}`` line:

- the GPU (``nvidia-smi -L``) and onnxruntime's providers;
- without ``CUDAExecutionProvider`` (onnxruntime-gpu not installed, or no GPU):
  says so, measures the CPU alone and exits 0;
- with it: ms/frame of CenterFace at 1280x736 (1080p frames of hamilton.mp4
  scaled up, the benchmark's resolution) on CPU, CUDA batch 1 and CUDA batch
  ``CUDA_BATCH_FRAMES``; the largest difference of the raw outputs from the CPU's;
  whether the detections (boxes, landmarks, scores) agree to 1e-3 px and the face
  counts are equal; and ``run_extract`` on the fixture with
  ``FACECORPUS_ORT_DEVICE=cuda`` against the CPU (wall s, faces).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def gpu_names() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    proc = subprocess.run([exe, "-L"], capture_output=True, text=True)
    return [line for line in proc.stdout.splitlines() if line.strip()]


def frames_1080p(fixtures: Path, count: int):
    import cv2

    from pipeline.probe import probe
    from pipeline.sampling import SampleSpec, iter_frames

    path = fixtures / "hamilton.mp4"
    frames = [f.image_rgb for f in iter_frames(path, SampleSpec.parse("every:8"), probe(path))][:count]
    return [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_LINEAR) for f in frames]


def session(providers: list[str]):
    import onnxruntime as ort

    from pipeline.detection.centerface import centerface_model_path, load_fast_model, session_options

    model = load_fast_model(centerface_model_path()).SerializeToString()
    return ort.InferenceSession(model, sess_options=session_options(), providers=providers)


def blobs(frames):
    import numpy as np

    from pipeline.detection.base import letterbox

    return [np.ascontiguousarray(letterbox(f, 1280)[0].transpose(2, 0, 1)[None], dtype=np.float32) for f in frames]


def run_ms(sess, inputs, batch: int) -> tuple[float, list]:
    import numpy as np

    from pipeline.detection.centerface import INPUT_NAME, OUTPUT_NAMES

    sess.run(list(OUTPUT_NAMES), {INPUT_NAME: np.concatenate(inputs[:batch])})  # warm-up (cuDNN autotune)
    outs = []
    started = time.perf_counter()
    for at in range(0, len(inputs), batch):
        chunk = inputs[at : at + batch]
        result = sess.run(list(OUTPUT_NAMES), {INPUT_NAME: np.concatenate(chunk)})
        outs += [[r[k] for r in result] for k in range(len(chunk))]
    return (time.perf_counter() - started) / len(inputs) * 1000, outs


def detections_agree(frames, device: str) -> tuple[bool, int, int]:
    """Detections on CPU and on ``device`` through the detector itself."""
    import numpy as np

    from pipeline.detection import DetectorConfig
    from pipeline.detection.centerface import DEVICE_ENV, CenterFaceDetector

    os.environ[DEVICE_ENV] = "cpu"
    cpu = [CenterFaceDetector(DetectorConfig()).detect(f) for f in frames]
    os.environ[DEVICE_ENV] = device
    dev = [CenterFaceDetector(DetectorConfig()).detect_batch(frames[i : i + 8]) for i in range(0, len(frames), 8)]
    dev = [d for chunk in dev for d in chunk]
    os.environ[DEVICE_ENV] = "cpu"
    same = all(
        len(a) == len(b)
        and all(np.allclose(x.bbox_xyxy_px, y.bbox_xyxy_px, atol=1e-3) and np.allclose(x.landmarks_array, y.landmarks_array, atol=1e-3) for x, y in zip(a, b))
        for a, b in zip(cpu, dev)
    )
    return same, sum(map(len, cpu)), sum(map(len, dev))


def extract_on(device: str, fixtures: Path) -> dict:
    """run_extract of hamilton.mp4 at fps:1 in a fresh process on ``device``."""
    code = (
        "import sys, time, shutil, tempfile; from pathlib import Path; sys.path.insert(0, %r)\n"
        "from pipeline.options import extract_config; from pipeline.run import run_extract\n"
        "from pipeline.detection import make_detector\n"
        "tmp = Path(tempfile.mkdtemp()); (tmp / 'c').mkdir(); shutil.copy(%r, tmp / 'c' / 'hamilton.mp4')\n"
        "config = extract_config({}); make_detector(config.detector)\n"
        "t = time.perf_counter(); s = run_extract(tmp / 'c', tmp / 'o', config)\n"
        "print('RESULT', time.perf_counter() - t, s.faces, s.frames_sampled); shutil.rmtree(tmp)\n"
    ) % (str(REPO), str(fixtures / "hamilton.mp4"))
    env = {**os.environ, "FACECORPUS_ORT_DEVICE": device}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT")), None)
    if line is None:
        return {"error": proc.stderr[-500:]}
    _, wall, faces, frames = line.split()
    return {"wall_s": float(wall), "faces": int(faces), "frames": int(frames)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--fixtures", type=Path, default=Path(os.environ.get("FACECORPUS_FIXTURES", REPO.parent / "shared" / "fixtures")))
    args = parser.parse_args()
    import numpy as np
    import onnxruntime as ort

    from pipeline.detection.centerface import CUDA_BATCH_FRAMES, CUDA_PROVIDER, CPU_PROVIDER

    report: dict = {"gpus": gpu_names(), "onnxruntime": ort.__version__, "providers": ort.get_available_providers()}
    print(f"GPUs: {report['gpus'] or 'none found (no nvidia-smi)'}")
    print(f"onnxruntime {report['onnxruntime']}, providers {report['providers']}")
    frames = frames_1080p(args.fixtures, args.frames)
    inputs = blobs(frames)
    report["cpu_ms_per_frame"], cpu_out = run_ms(session([CPU_PROVIDER]), inputs, 1)
    print(f"CPU: {report['cpu_ms_per_frame']:.1f} ms/frame at 1280x736")
    if CUDA_PROVIDER not in report["providers"]:
        report["cuda"] = "unavailable: install onnxruntime-gpu (same version) on a machine with an NVIDIA GPU and CUDA/cuDNN"
        print(f"CUDA: {report['cuda']}")
    else:
        cuda = session([CUDA_PROVIDER, CPU_PROVIDER])
        report["cuda_session_providers"] = cuda.get_providers()
        for batch in (1, CUDA_BATCH_FRAMES):
            ms, outs = run_ms(cuda, inputs, batch)
            diff = max(float(np.abs(a - b).max()) for fa, fb in zip(outs, cpu_out) for a, b in zip(fa, fb))
            report[f"cuda_batch{batch}_ms_per_frame"] = ms
            report[f"cuda_batch{batch}_max_abs_diff_vs_cpu"] = diff
            print(f"CUDA batch {batch}: {ms:.2f} ms/frame ({report['cpu_ms_per_frame'] / ms:.1f} x CPU); max |output - CPU output| {diff:.2e}")
        same, cpu_faces, dev_faces = detections_agree(frames, "cuda")
        report.update(detections_agree_1e3px=same, faces_cpu=cpu_faces, faces_cuda=dev_faces)
        print(f"detections agree within 1e-3 px: {same} (faces CPU {cpu_faces}, CUDA {dev_faces})")
        report["extract_cpu"] = extract_on("cpu", args.fixtures)
        report["extract_cuda"] = extract_on("cuda", args.fixtures)
        print(f"run_extract hamilton.mp4 fps:1: CPU {report['extract_cpu']}, CUDA {report['extract_cuda']}")
    print("GPU-CHECK " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
