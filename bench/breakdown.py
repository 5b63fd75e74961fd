"""The video pass's work per sampled frame, part by part (issue 17, item 2): ``bench/measure.py``'s ``breakdown`` kind.

Decoding side (ffmpeg runs of the sampling's plan, as ``iter_frames`` makes them):

- ``decode_yuv``: the runs to the null muxer with the frames left in the decoder's
  pixel format (decode and select only);
- ``decode_rgb``: the same with the RGB conversion the pipeline asks for;
- ``pipe``: the same runs read through the pipe into numpy arrays (``iter_frames``):
  conversion + pipe + parsing, as the pipeline's decoding thread sees it.

Then, on those frames held in memory, each part of the per-frame work alone, one
after another, on this thread (the pipeline overlaps some of them: decoding on its
own thread and in ffmpeg's process, the signature and crops behind the detector):

- ``letterbox`` (resize to the detector's input and pad), ``blob`` (HWC uint8 to
  NCHW float32), ``network`` (onnxruntime's run), ``heads`` (decoding the outputs, NMS);
- ``signature`` (the frames stage: thumbnail, histogram, pHash);
- per face, summed per frame: ``warp`` (fit and warp), ``encode`` (PNG), ``write``
  (the synced atomic write of a new crop file).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from pipeline.alignment.crops import CropFormat, encode_crop, warp
from pipeline.alignment.presets import AlignConfig, estimate_affine
from pipeline.detection.base import DEFAULT_DET_MAX_SIDE, DetectorConfig, letterbox
from pipeline.detection.centerface import INPUT_NAME, OUTPUT_NAMES, CenterFaceDetector, _Input
from pipeline.fsutil import atomic_write_bytes
from pipeline.media.probe import probe
from pipeline.media.sampling import iter_frames
from pipeline.media.spec import SampleSpec
from pipeline.stages.detect import VideoFrame
from pipeline.stages.frames import FrameParams, FrameSignatureStage


def measure_breakdown(req: dict, sampling_commands, to_null) -> dict:
    path, spec = Path(req["path"]), SampleSpec.parse(req["spec"])
    started_all, cpu_all = time.perf_counter(), time.process_time()
    result = {"decode_yuv_s": _ffmpeg_s([_yuv(to_null(a)) for a in sampling_commands(path, spec, True)])}
    result["decode_rgb_s"] = _ffmpeg_s([to_null(a) for a in sampling_commands(path, spec, True)])
    started = time.perf_counter()
    frames = list(iter_frames(path, spec, probe(path)))
    result["pipe_s"] = time.perf_counter() - started
    parts = _parts(frames, req.get("det_max_side", DEFAULT_DET_MAX_SIDE))
    n = len(frames)
    result.update(frames=n, faces=parts.pop("faces_n"))
    result["per_frame_ms"] = {key: 1000 * value / n for key, value in [("decode_yuv", result["decode_yuv_s"]),
                              ("decode_rgb", result["decode_rgb_s"]), ("pipe", result["pipe_s"]), *parts.items()]}  # fmt: skip
    return {**result, "wall_s": time.perf_counter() - started_all, "cpu_s": time.process_time() - cpu_all}


def _yuv(argv: list[str]) -> list[str]:
    """The run without its ``-pix_fmt rgb24`` output option: frames stay in the decoder's format."""
    at = argv.index("-pix_fmt")
    return argv[:at] + argv[at + 2 :]


def _ffmpeg_s(commands: list[list[str]]) -> float:
    started = time.perf_counter()
    for argv in commands:
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _parts(frames, det_max_side: int) -> dict[str, float]:
    detector = CenterFaceDetector(DetectorConfig(det_max_side=det_max_side))
    detector.detect(frames[0].image_rgb)  # warm-up: first-run allocations
    signatures = FrameSignatureStage(FrameParams(SampleSpec.parse("fps:1")), Path(tempfile.gettempdir()))
    signatures.setup()
    align, fmt = AlignConfig(), CropFormat()
    took: dict[str, float] = defaultdict(float)
    faces = 0
    with tempfile.TemporaryDirectory(prefix="breakdown-") as scratch:
        for frame in frames:
            image = frame.image_rgb
            padded, scale = _timed(took, "letterbox", letterbox, image, det_max_side)
            blob = _timed(took, "blob", _blob, padded)
            outputs = _timed(took, "network", detector.session.run, list(OUTPUT_NAMES), {INPUT_NAME: blob})
            item = _Input(blob, (image.shape[1], image.shape[0]), scale)
            found = _timed(took, "heads", detector._detections, item, *(o[0] for o in outputs))
            _timed(took, "signature", signatures.process, VideoFrame("bench", frame))
            for det in found:
                faces += 1
                crop = _timed(took, "warp", _warp, image, det, align)
                data = _timed(took, "encode", encode_crop, crop, fmt)
                _timed(took, "write", atomic_write_bytes, Path(scratch) / f"{faces}.png", data)
    return {**took, "faces_n": faces}


def _blob(padded: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)


def _warp(image: np.ndarray, det, align: AlignConfig) -> np.ndarray:
    return warp(image, estimate_affine(det.landmarks_array, align), align.output_size_px)


def _timed(took: dict[str, float], key: str, fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    took[key] += time.perf_counter() - started
    return out
