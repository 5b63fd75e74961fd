"""The embedders on real faces: the real CenterFace detector, the real alignment, the real dlib model."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from pipeline.alignment.crops import warp
from pipeline.alignment.presets import AlignConfig, apply_affine, estimate_affine
from pipeline.detection.base import DetectorConfig
from pipeline.detection.registry import make_detector
from pipeline.embedding.base import EmbedderConfig, face_in_crop, to_crop
from pipeline.embedding.dlib_resnet import SAME_PERSON_DISTANCE
from pipeline.embedding.registry import embedder_identity, make_embedder
from pipeline.errors import ModelNotFoundError
from pipeline.fsutil import sha256_file
from tests.conftest import fixture


def _crop_of_best_face(name: str, align: AlignConfig):
    rgb = cv2.cvtColor(cv2.imread(str(fixture(name))), cv2.COLOR_BGR2RGB)
    face = make_detector(DetectorConfig()).detect(rgb)[0]
    affine = estimate_affine(face.landmarks_array, align)
    crop = warp(rgb, affine, align.output_size_px)
    return face_in_crop(crop, affine.reshape(-1), face.bbox_xyxy_px, face.landmarks_array.reshape(-1))


@pytest.fixture(scope="module")
def vectors() -> dict[str, np.ndarray]:
    """dlib vectors of four one-face stills, from 112 px ArcFace crops (the dataset's default)."""
    names = ("obama_portrait.jpg", "obama_whitehouse.jpg", "lin_manuel_miranda.png", "alex_lacamoire.png")
    align = AlignConfig(preset="arcface", size_px=112)
    faces = [_crop_of_best_face(n, align) for n in names]
    return dict(zip(names, make_embedder(EmbedderConfig("dlib")).embed(faces)))


def test_dlib_vectors_are_unit_and_tell_people_apart(vectors):
    for v in vectors.values():
        assert v.shape == (128,) and v.dtype == np.float32
        assert abs(float(np.linalg.norm(v)) - 1) < 1e-5
    same = np.linalg.norm(vectors["obama_portrait.jpg"] - vectors["obama_whitehouse.jpg"])
    assert same < SAME_PERSON_DISTANCE
    others = [("obama_portrait.jpg", "lin_manuel_miranda.png"), ("lin_manuel_miranda.png", "alex_lacamoire.png"),
              ("obama_whitehouse.jpg", "alex_lacamoire.png")]  # fmt: skip
    for a, b in others:
        assert np.linalg.norm(vectors[a] - vectors[b]) > SAME_PERSON_DISTANCE, (a, b)


def test_dlib_from_an_ffhq_crop_agrees_with_the_arcface_crop(vectors):
    """The embedder aligns the face its own way from the box mapped into any preset's crop."""
    face = _crop_of_best_face("obama_portrait.jpg", AlignConfig(preset="ffhq", size_px=256))
    other = make_embedder(EmbedderConfig("dlib")).embed([face])[0]
    assert np.linalg.norm(other - vectors["obama_portrait.jpg"]) < 0.15
    assert np.linalg.norm(other - vectors["lin_manuel_miranda.png"]) > SAME_PERSON_DISTANCE


def test_face_in_crop_maps_box_and_landmarks_through_the_affine():
    affine = np.array([2.0, 0.0, -10.0, 0.0, 2.0, -20.0])  # scale 2 about (10/2, 20/2)
    face = face_in_crop(np.zeros((8, 8, 3), np.uint8), affine, (10, 20, 30, 40), np.arange(10.0))
    assert face.bbox_xyxy_px.tolist() == [10.0, 20.0, 50.0, 60.0]
    assert np.allclose(face.landmarks5_px, apply_affine(affine.reshape(2, 3), np.arange(10.0).reshape(5, 2)))
    assert np.allclose(to_crop(affine, [[5.0, 10.0]]), [[0.0, 0.0]])


def test_embedder_identity_is_the_model_files_sha256():
    identity = embedder_identity(EmbedderConfig("dlib"))
    assert identity.model_sha256 == sha256_file(identity.model_path)
    assert identity.version.startswith("dlib_resnet_v1:") and identity.version.endswith(identity.model_sha256[:16])


def test_arcface_without_a_local_pack_names_the_folder(tmp_path):
    with pytest.raises(ModelNotFoundError, match=re.escape(str(tmp_path / "buffalo_l"))):
        embedder_identity(EmbedderConfig("arcface", models_root=str(tmp_path)))
    (tmp_path / "buffalo_l").mkdir()
    (tmp_path / "buffalo_l" / "det_10g.onnx").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="w600k_r50.onnx"):
        embedder_identity(EmbedderConfig("arcface", models_root=str(tmp_path)))


def test_unknown_embedder_is_refused():
    with pytest.raises(ValueError, match="unknown embedder 'facenet'"):
        embedder_identity(EmbedderConfig("facenet"))


def _tiny_recognition_model(path) -> None:
    """An ONNX model shaped like an ArcFace recognition model (112x112x3 in, 512 out): 16 px average
    pooling then a fixed random projection. Stands in for w600k_r50.onnx, which cannot be downloaded
    here; insightface's model_zoo routes it to ArcFaceONNX like the real one."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).standard_normal((147, 512)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["data"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["fc1"]),
        ],
        "tiny_arcface",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", 512])],
        [numpy_helper.from_array(weights, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def test_arcface_from_a_local_pack(tmp_path):
    pack = tmp_path / "buffalo_l"
    pack.mkdir()
    _tiny_recognition_model(pack / "w600k_r50.onnx")
    config = EmbedderConfig("arcface", models_root=str(tmp_path))
    identity = embedder_identity(config)
    assert identity.model_path == pack / "w600k_r50.onnx" and identity.model_sha256 == sha256_file(pack / "w600k_r50.onnx")
    face = _crop_of_best_face("obama_portrait.jpg", AlignConfig(preset="ffhq", size_px=256))
    vectors = make_embedder(config).embed([face, face])
    assert vectors.shape == (2, 512) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(vectors[0], vectors[1])
