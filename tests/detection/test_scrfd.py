"""The insightface (SCRFD) detector, through insightface's real model_zoo loader.

No SCRFD weights can be fetched here, so each test builds a small ONNX model with
SCRFD's signature: input ``input.1`` float (1, 3, H, W) and the 9 outputs of an
SCRFD with keypoints, in insightface's order (scores 8/16/32, box distances
8/16/32, keypoint offsets 8/16/32), each (locations * 2 anchors, 1 | 4 | 10).
Its heads are arranged so that the decoded results are known:

* score at stride 32 = sigmoid(GAIN * (mean of the blob's R plane over the cell
  - BIAS)); strides 8 and 16 never pass the threshold. The blob is what SCRFD
  builds from a BGR image with ``swapRB=True``, (x - 127.5) / 128, so a pure red
  cell (RGB 255, 0, 0) scores ~0.993 and a pure blue one ~0: the test catches a
  wrong colour order.
* box distances and keypoint offsets are constants (in stride units), so the
  expected box and landmarks follow from SCRFD's anchor-centre maths, computed
  here independently.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.detection.base import Detection, DetectorConfig
from pipeline.detection.registry import make_detector
from pipeline.errors import ModelNotFoundError
from pipeline.fsutil import sha256_file

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("FACECORPUS_FIXTURES", REPO.parent / "shared" / "fixtures"))

STRIDES = (8, 16, 32)
ANCHORS = 2
GAIN = 10.0
BIASES = {8: 2.0, 16: 2.0, 32: 0.5}  # blob values are within [-1, 1]: strides 8 and 16 never fire
BOX_DIST = np.array([1.0, 0.5, 1.5, 2.0])  # left, top, right, bottom, in strides
KPS_OFFSETS = np.array([-0.5, 0.25, 0.5, 0.25, 0.0, 0.75, -0.4, 1.25, 0.4, 1.25])  # (dx, dy) x 5, in strides
PACK = "testpack"


# ---------------------------------------------------------------- the test model


def _head(prefix: str, stride: int, with_kps: bool) -> tuple[list, list, list[str]]:
    """Nodes and initializers for one stride; returns their output names (score, bbox, kps)."""
    s = stride
    weight = np.zeros((1, 3, s, s), dtype=np.float32)
    weight[0, 0] = 1.0 / (s * s)  # mean of the blob's channel 0 (R, after swapRB) over the cell
    inits = [
        numpy_helper.from_array(weight, f"{prefix}_w"),
        numpy_helper.from_array(np.array(BIASES[s], dtype=np.float32), f"{prefix}_bias"),
        numpy_helper.from_array(np.array(GAIN, dtype=np.float32), f"{prefix}_gain"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), f"{prefix}_zero"),
        numpy_helper.from_array(np.tile(BOX_DIST, ANCHORS).astype(np.float32).reshape(1, 1, 1, -1), f"{prefix}_box"),
        numpy_helper.from_array(np.tile(KPS_OFFSETS, ANCHORS).astype(np.float32).reshape(1, 1, 1, -1), f"{prefix}_kps"),
        numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), f"{prefix}_shape1"),
        numpy_helper.from_array(np.array([-1, 4], dtype=np.int64), f"{prefix}_shape4"),
        numpy_helper.from_array(np.array([-1, 10], dtype=np.int64), f"{prefix}_shape10"),
    ]
    p = prefix
    nodes = [
        helper.make_node("Conv", ["input.1", f"{p}_w"], [f"{p}_mean"], kernel_shape=[s, s], strides=[s, s]),
        helper.make_node("Sub", [f"{p}_mean", f"{p}_bias"], [f"{p}_centred"]),
        helper.make_node("Mul", [f"{p}_centred", f"{p}_gain"], [f"{p}_logit"]),
        helper.make_node("Sigmoid", [f"{p}_logit"], [f"{p}_sig"]),
        helper.make_node("Transpose", [f"{p}_sig"], [f"{p}_nhwc"], perm=[0, 2, 3, 1]),  # (1, h, w, 1)
        helper.make_node("Concat", [f"{p}_nhwc"] * ANCHORS, [f"{p}_anchors"], axis=3),  # (1, h, w, 2)
        helper.make_node("Reshape", [f"{p}_anchors", f"{p}_shape1"], [f"score_{s}"]),  # (h*w*2, 1)
        helper.make_node("Mul", [f"{p}_nhwc", f"{p}_zero"], [f"{p}_zeros"]),
        helper.make_node("Add", [f"{p}_zeros", f"{p}_box"], [f"{p}_box_map"]),  # (1, h, w, 8)
        helper.make_node("Reshape", [f"{p}_box_map", f"{p}_shape4"], [f"bbox_{s}"]),  # (h*w*2, 4)
    ]
    outputs = [f"score_{s}", f"bbox_{s}"]
    if with_kps:
        nodes += [
            helper.make_node("Add", [f"{p}_zeros", f"{p}_kps"], [f"{p}_kps_map"]),  # (1, h, w, 20)
            helper.make_node("Reshape", [f"{p}_kps_map", f"{p}_shape10"], [f"kps_{s}"]),  # (h*w*2, 10)
        ]
        outputs.append(f"kps_{s}")
    return nodes, inits, outputs


def build_scrfd_like_model(path: Path, input_hw: tuple = ("height", "width"), with_kps: bool = True) -> Path:
    nodes, inits, heads = [], [], []
    for s in STRIDES:
        n, i, o = _head(f"s{s}", s, with_kps)
        nodes += n
        inits += i
        heads.append(o)
    widths = (1, 4, 10)
    outputs = []
    for component in range(3 if with_kps else 2):  # all scores, then all boxes, then all keypoints
        for s, names in zip(STRIDES, heads):
            outputs.append(helper.make_tensor_value_info(names[component], TensorProto.FLOAT, [f"n{s}", widths[component]]))
    graph = helper.make_graph(
        nodes,
        "scrfd_like",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, *input_hw])],
        outputs,
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facecorpus-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


# ---------------------------------------------------------------- expectations


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def expected_face(col: int, row: int, red: int, scale: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Box, score and landmarks for a uniform cell (col, row) at stride 32 of red value
    ``red`` (G = B = 0), decoded as SCRFD does, in frame pixels (frame = det input / scale)."""
    stride = 32
    centre = np.array([col * stride, row * stride], dtype=np.float64)  # anchor centres: (col, row) * stride
    d = BOX_DIST * stride
    box = np.array([centre[0] - d[0], centre[1] - d[1], centre[0] + d[2], centre[1] + d[3]])  # distance2bbox
    kps = centre + KPS_OFFSETS.reshape(5, 2) * stride  # distance2kps
    score = sigmoid(GAIN * ((red - 127.5) / 128.0 - BIASES[stride]))
    return box / scale, score, kps / scale


def paint_cells(width: int, height: int, cells: dict[tuple[int, int], tuple[int, int, int]], cell_px: int) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    for (col, row), rgb in cells.items():
        image[row * cell_px : (row + 1) * cell_px, col * cell_px : (col + 1) * cell_px] = rgb
    return image


# cells at stride 32 of the det input: a strong red face, a weaker red face, and a blue
# patch that only a detector fed the wrong colour order would find.
CELLS = {(1, 1): (255, 0, 0), (6, 3): (200, 0, 0), (3, 4): (0, 0, 255)}


@pytest.fixture()
def models_root(tmp_path) -> Path:
    build_scrfd_like_model(tmp_path / "models" / PACK / "det_test.onnx")
    return tmp_path / "models"


@pytest.fixture()
def no_network(monkeypatch):
    """Fail the test if anything opens a network connection (a download attempt)."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def config_for(models_root: Path, **kw) -> DetectorConfig:
    """The test packs hold models made here, which no pin knows: accepted explicitly."""
    kw.setdefault("allow_unknown_model", True)
    return DetectorConfig(name="insightface", models_root=models_root, model_pack=PACK, **kw)


def assert_faces(faces: list[Detection], scale: float, frame_wh: tuple[int, int]) -> None:
    assert len(faces) == 2  # the blue cell is not a face: frames are handed over as BGR
    strong, weak = faces
    for det, (cell, rgb) in zip((strong, weak), list(CELLS.items())[:2]):
        box, score, kps = expected_face(*cell, rgb[0], scale)
        assert isinstance(det, Detection)
        assert np.allclose(det.bbox_xyxy_px, np.clip(box, 0, [*frame_wh, *frame_wh]), atol=0.01), (det.bbox_xyxy_px, box)
        assert det.score == pytest.approx(score, abs=0.01)
        assert det.landmarks_array.shape == (5, 2)
        assert np.allclose(det.landmarks_array, kps, atol=0.01), (det.landmarks_array, kps)
        assert all(isinstance(v, float) for v in det.bbox_xyxy_px)
    assert strong.score > weak.score > 0.5


# ---------------------------------------------------------------- tests


def test_detects_at_det_size(models_root, no_network):
    detector = make_detector(config_for(models_root, det_max_side=256))
    from insightface.model_zoo.scrfd import SCRFD

    assert detector.name == "insightface"
    assert isinstance(detector.model, SCRFD) and detector.model.use_kps and detector.model.fmc == 3
    assert detector.fixed_input_size is None
    frame = paint_cells(256, 192, CELLS, 32)
    assert_faces(detector.detect(frame), 1.0, (256, 192))
    # The test model really is colour-sensitive: with red and blue swapped only the
    # (now red) blue cell is found.
    swapped = detector.detect(np.ascontiguousarray(frame[:, :, ::-1]))
    assert len(swapped) == 1
    box, _, _ = expected_face(3, 4, 255, 1.0)
    assert np.allclose(swapped[0].bbox_xyxy_px, np.clip(box, 0, [256, 192, 256, 192]), atol=0.01)


def test_boxes_are_in_full_resolution_pixels(models_root, no_network):
    detector = make_detector(config_for(models_root, det_max_side=256))
    # A frame twice the det size: the detector sees 256x192, coordinates come back x2.
    frame = paint_cells(512, 384, CELLS, 64)
    image, input_size, scale = detector.det_input(frame)
    assert input_size == (256, 192) and image.shape == (192, 256, 3)
    assert np.allclose(scale, [0.5, 0.5])
    faces = detector.detect(frame)
    assert_faces(faces, 0.5, (512, 384))
    assert faces[1].bbox_xyxy_px[2] == pytest.approx(480)  # beyond the 256 px det input: full-resolution pixels
    # Every input size runs on the one dynamic Session (no per-size Session pile-up).
    detector.detect(np.zeros((100, 100, 3), dtype=np.uint8))
    sessions = detector.model.resolution_sessions
    assert {(256, 192), (128, 128)} <= set(sessions)
    assert all(session is detector.model.session for session in sessions.values())


def test_det_input_never_enlarges_and_pads_to_32(models_root):
    detector = make_detector(config_for(models_root, det_max_side=256))
    image, input_size, scale = detector.det_input(np.zeros((90, 100, 3), dtype=np.uint8))
    assert input_size == (128, 96) and np.allclose(scale, [1.0, 1.0])
    image, input_size, scale = detector.det_input(np.zeros((300, 1000, 3), dtype=np.uint8))
    assert input_size == (256, 96) and max(input_size) <= 256
    assert all(side % 32 == 0 for side in input_size)
    # Odd sizes still run through and stay in the frame.
    frame = np.zeros((190, 250, 3), dtype=np.uint8)
    frame[30:62, 30:62] = (255, 0, 0)
    faces = detector.detect(frame)
    assert faces and all(0 <= f.bbox_xyxy_px[0] <= f.bbox_xyxy_px[2] <= 250 for f in faces)
    assert detector.detect(np.zeros((64, 64, 3), dtype=np.uint8)) == []


def test_fixed_input_model_runs_at_its_own_size(tmp_path, no_network):
    root = tmp_path / "models"
    build_scrfd_like_model(root / PACK / "det_fixed.onnx", input_hw=(640, 640))
    detector = make_detector(config_for(root))  # det_max_side 1280 does not apply to a fixed input
    assert detector.fixed_input_size == (640, 640)
    frame = paint_cells(1280, 1280, CELLS, 64)  # twice the fixed size
    assert_faces(detector.detect(frame), 0.5, (1280, 1280))


def test_loaded_once_per_process_and_config(models_root):
    config = config_for(models_root, det_max_side=256)
    first = make_detector(config)
    assert make_detector(config_for(models_root, det_max_side=256)) is first
    other = make_detector(config_for(models_root, det_max_side=256, score_threshold=0.7))
    assert other is not first
    assert other.model.det_thresh == 0.7 and first.model.det_thresh == 0.5
    assert first.model.nms_thresh == config.nms_iou
    # Only the strong red face passes 0.7.
    assert len(other.detect(paint_cells(256, 192, CELLS, 32))) == 1


def test_version_names_pack_file_and_hash(models_root):
    from pipeline.detection.registry import detector_version
    from pipeline.detection.scrfd import scrfd_model_path

    config = config_for(models_root)
    detector = make_detector(config)
    assert scrfd_model_path(config) == models_root / PACK / "det_test.onnx" == detector.model_path
    version = detector_version(config)
    assert version == f"insightface-scrfd:{PACK}/det_test.onnx:unpinned:{sha256_file(detector.model_path)[:16]}"


def test_an_unpinned_model_is_refused_before_loading(models_root):
    from pipeline.detection.pins import UnknownModelError
    from pipeline.detection.registry import detector_version

    config = config_for(models_root, allow_unknown_model=False, det_max_side=320)
    with pytest.raises(UnknownModelError, match=r"det_test.onnx: sha256 [0-9a-f]{64} is not a pinned model"):
        make_detector(config)
    with pytest.raises(UnknownModelError):
        detector_version(config)  # so no fingerprint, no manifest row names it either


def test_first_sorted_det_file_is_used_and_other_onnx_ignored(tmp_path):
    from pipeline.detection.scrfd import scrfd_model_path

    pack = tmp_path / "models" / PACK
    pack.mkdir(parents=True)
    for name in ("w600k_r50.onnx", "det_b.onnx", "det_a.onnx", "1k3d68.onnx"):
        (pack / name).write_bytes(b"x")
    assert scrfd_model_path(config_for(tmp_path / "models")) == pack / "det_a.onnx"


def test_model_without_keypoints_is_refused(tmp_path):
    root = tmp_path / "models"
    build_scrfd_like_model(root / PACK / "det_nokps.onnx", with_kps=False)
    with pytest.raises(ValueError, match="5 landmarks"):
        make_detector(config_for(root, nms_iou=0.31))


def test_missing_pack_raises_model_not_found(tmp_path, no_network):
    empty = tmp_path / "empty_models"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError) as err:
        make_detector(config_for(empty))
    message = str(err.value)
    assert str(empty / PACK) in message and f"{PACK}.zip" in message and "--models-root" in message
    # A pack folder without a det_*.onnx: same error, naming that folder.
    (empty / PACK).mkdir()
    (empty / PACK / "w600k_r50.onnx").write_bytes(b"not a detector")
    with pytest.raises(ModelNotFoundError, match="det_"):
        make_detector(config_for(empty))
    assert sorted(p.name for p in empty.rglob("*")) == [PACK, "w600k_r50.onnx"]  # nothing downloaded


def test_default_models_root_is_home_insightface(tmp_path, monkeypatch):
    from pipeline.detection.scrfd import scrfd_model_path

    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as err:
        scrfd_model_path(DetectorConfig(name="insightface"))
    assert str(tmp_path / ".insightface" / "models" / "buffalo_l") in str(err.value)
    assert not (tmp_path / ".insightface").exists()


def test_cli_reports_missing_models_and_exits_2(tmp_path):
    still = FIXTURES / "two_people.jpg"
    if not still.is_file():
        pytest.fail(f"test media {still} is missing: set FACECORPUS_FIXTURES to the shared fixtures folder")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(still, corpus / still.name)
    empty = tmp_path / "empty_models"
    empty.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    exe = Path(sys.executable).with_name("facecorpus")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "flows.cli"]
    result = subprocess.run(
        [
            *cmd,
            "extract",
            str(corpus),
            "--out",
            str(tmp_path / "out"),
            "--detector",
            "insightface",
            "--models-root",
            str(empty),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(home)},
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert str(empty / "buffalo_l") in result.stderr
    assert "buffalo_l.zip" in result.stderr
    assert list(empty.iterdir()) == []  # no download into the models folder
    assert not (home / ".insightface").exists()  # nor into insightface's default one
