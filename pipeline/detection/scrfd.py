"""SCRFD, insightface's detector, loaded with insightface's own ``model_zoo``.

The model is the ``det_*.onnx`` file of an insightface model pack (buffalo_l:
``det_10g.onnx``, buffalo_s: ``det_500m.onnx``) in ``<models_root>/<pack>/``,
by default ``~/.insightface/models/<pack>/``. It is loaded with
``insightface.model_zoo.get_model(<existing .onnx path>)``, which routes any ONNX
file with at least 5 outputs to ``insightface.model_zoo.scrfd.SCRFD``.

No download ever happens. insightface can download in two places: ``get_model``
when the file is missing *and* ``download=True`` is passed, and the
``get_scrfd``/``FaceAnalysis`` helpers given a pack *name*. This module looks the
file up itself, raises :class:`~pipeline.errors.ModelNotFoundError` when it is
absent, and only ever hands insightface the path of a file that exists, with
``download=False``; the helpers that take names are never called.

Conventions. The interface is RGB uint8 HxWx3 in, frame pixels out (see
``pipeline.detection``). insightface's SCRFD takes **BGR** images: it builds its
input blob with ``cv2.dnn.blobFromImage(..., swapRB=True)``, (x - 127.5) / 128,
NCHW float32, so frames are converted RGB -> BGR before ``SCRFD.detect``.

Outputs (9 for a model with keypoints; 6 without, which alignment cannot use):
scores for strides 8, 16, 32, then box distances for 8, 16, 32, then keypoint
offsets for 8, 16, 32; 2 anchors per location, anchor centres at
(col * stride, row * stride). ``SCRFD.detect`` decodes them (distance2bbox,
distance2kps), applies ``det_thresh`` and its NMS (``nms_thresh``), and divides
by its own resize factor, so it returns boxes (n, 5: x1, y1, x2, y2, score) and
keypoints (n, 5, 2) in the pixels of the image it was given.

Input size. A model with a dynamic input gets the frame letterboxed exactly as
CenterFace does (:func:`pipeline.detection.base.letterbox`: longest side at
most ``det_max_side``, never enlarged, INTER_AREA, padded right/bottom to
multiples of 32) and ``input_size`` equal to that padded size, so SCRFD's own
resize is the identity (for a few sizes its float ratio maths shrinks one pixel
row; its scale factor maps that back). A model with a fixed input (for example
640x640) always runs at that size: the frame is shrunk with INTER_AREA to fit it
if larger and SCRFD fits and pads it (enlarging a smaller frame, as any fixed-size
model must). Either way the results are divided by the per-axis shrink factor,
giving full-resolution frame pixels, then clipped to the frame (boxes only).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.detection.base import Detection, Detector, DetectorConfig, clip_to_frame, letterbox, to_detections
from pipeline.errors import ModelNotFoundError

DETECTOR_PREFIX = "det_"
MODEL_ZOO_RELEASES = "https://github.com/deepinsight/insightface/releases/tag/model-zoo"
MODEL_ZOO_DOWNLOAD = "https://github.com/deepinsight/insightface/releases/download/model-zoo/"
PROVIDERS = ["CPUExecutionProvider"]

MODEL_LABEL = "insightface-scrfd"


def model_identity(config: DetectorConfig) -> tuple[Path, str]:
    """(model file, label) for the registry's ``detector_version``: the label names the pack and file."""
    path = scrfd_model_path(config)
    return path, f"{MODEL_LABEL}:{config.model_pack}/{path.name}"


def file_label(path: Path) -> str:
    """The label of an SCRFD model given as a file rather than found in a pack."""
    return f"{MODEL_LABEL}:file/{path.name}"


def load(config: DetectorConfig, model_path: Path) -> ScrfdDetector:
    return ScrfdDetector(config, model_path)


def runtime_key() -> str:
    return repr(PROVIDERS)


def model_pack_dir(config: DetectorConfig) -> Path:
    """``<models_root>/<pack>``, absolute."""
    return Path(config.models_root).expanduser().absolute() / config.model_pack


def _install_hint(pack: str, pack_dir: Path) -> str:
    return (
        f"download {pack}.zip from the insightface model zoo release page ({MODEL_ZOO_RELEASES}, "
        f"i.e. {MODEL_ZOO_DOWNLOAD}{pack}.zip) and unzip it into {pack_dir} "
        f"(e.g. `unzip {pack}.zip -d {pack_dir}`), or pass --models-root <folder that holds {pack}/>; "
        "facecorpus never downloads models itself"
    )


def scrfd_model_path(config: DetectorConfig) -> Path:
    """The pack's SCRFD model: the first (sorted) ``det_*.onnx`` in its folder.

    Raises ModelNotFoundError naming the folder looked in; never downloads.
    """
    pack_dir = model_pack_dir(config)
    if not pack_dir.is_dir():
        raise ModelNotFoundError(
            f"insightface model pack {config.model_pack!r} not found: no folder {pack_dir}; " + _install_hint(config.model_pack, pack_dir)
        )
    candidates = sorted(p for p in pack_dir.glob(f"{DETECTOR_PREFIX}*.onnx") if p.is_file())
    if not candidates:
        raise ModelNotFoundError(
            f"no SCRFD detector model ({DETECTOR_PREFIX}*.onnx, e.g. det_10g.onnx) in {pack_dir}; "
            + _install_hint(config.model_pack, pack_dir)
        )
    return candidates[0]


def _session_options(threads: int = 0):
    from pipeline.detection.centerface import session_options

    return session_options(threads)


def load_scrfd(path: Path, threads: int = 0):
    """insightface's SCRFD for the existing file ``path``, on CPU.

    ``path`` must exist (checked here again): with an existing ``.onnx`` path and
    ``download=False``, ``get_model`` takes no download branch.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"SCRFD model file {path} does not exist")
    from insightface.model_zoo import get_model
    from insightface.model_zoo.scrfd import SCRFD

    model = get_model(
        str(path),
        providers=PROVIDERS,
        sess_options=_session_options(threads),
        download=False,
        # One dynamic-shape Session for every input size, rather than insightface
        # 2.1's default of one extra fixed-shape Session per distinct size (stills
        # of many sizes would each build and keep one).
        static_shape_sessions=False,
    )
    if not isinstance(model, SCRFD):
        got = "nothing" if model is None else type(model).__name__
        raise ValueError(f"{path} is not an SCRFD detector: insightface's model_zoo routed it to {got}")
    if not model.use_kps:
        raise ValueError(
            f"{path} is an SCRFD model without keypoint outputs ({len(model.output_names)} outputs, "
            "9 or 15 expected): alignment needs 5 landmarks per face; use a pack whose det_*.onnx has them (e.g. buffalo_l)"
        )
    return model


def _shrink_to_fit(image: np.ndarray, max_w: int, max_h: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` shrunk (INTER_AREA, aspect kept) to fit max_w x max_h; never enlarged."""
    height, width = image.shape[:2]
    scale = min(1.0, max_w / width, max_h / height)
    if scale >= 1.0:
        return image, np.array([1.0, 1.0])
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return resized, np.array([new_w / width, new_h / height])


class ScrfdDetector(Detector):
    name = "insightface"

    def __init__(self, config: DetectorConfig, model_path: Path | None = None) -> None:
        self.config = config
        self.model_path = Path(model_path) if model_path is not None else scrfd_model_path(config)
        self.model = load_scrfd(self.model_path, config.threads)
        # (width, height) when the graph's input is fixed, else None (dynamic).
        fixed = getattr(self.model, "static_input_size", None)
        self.fixed_input_size: tuple[int, int] | None = tuple(int(v) for v in fixed) if fixed is not None else None
        default_size = self.fixed_input_size or (self.config.det_max_side, self.config.det_max_side)
        # ctx_id < 0: CPU. Thresholds live on the model; input_size is also passed per call.
        self.model.prepare(
            -1,
            input_size=default_size,
            det_thresh=self.config.score_threshold,
            nms_thresh=self.config.nms_iou,
        )

    def det_input(self, image_rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int] | None, np.ndarray]:
        """The image handed to SCRFD (still RGB), its input_size (None: the model's
        fixed size) and the per-axis scale (sx, sy) from frame to that image."""
        if self.fixed_input_size is not None:
            image, scale = _shrink_to_fit(image_rgb, *self.fixed_input_size)
            return image, None, scale
        padded, scale = letterbox(image_rgb, self.config.det_max_side)
        return padded, (padded.shape[1], padded.shape[0]), scale

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB image HxWx3, got shape {image_rgb.shape}")
        height, width = image_rgb.shape[:2]
        image, input_size, scale = self.det_input(image_rgb)
        image_bgr = np.ascontiguousarray(image[:, :, ::-1])
        dets, kpss = self.model.detect(image_bgr, input_size=input_size)
        if dets.shape[0] == 0:
            return []
        if kpss is None:
            raise ValueError(f"{self.model_path} returned no keypoints: alignment needs 5 landmarks per face")
        boxes = clip_to_frame(dets[:, :4].astype(np.float64) / np.tile(scale, 2), width, height)
        landmarks = kpss.astype(np.float64).reshape(-1, 10) / np.tile(scale, 5)
        return to_detections(boxes, dets[:, 4].astype(np.float64), landmarks)
