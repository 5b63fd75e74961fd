"""dlib's ResNet face descriptor (``face-recognition-models``' ``dlib_face_recognition_resnet_model_v1.dat``).

dlib aligns the face its own way: its 5-point shape predictor finds the points
inside our box (mapped into the crop), ``compute_face_descriptor`` cuts its
150x150 chip from them and returns 128 numbers. Measured on the fixtures: chips
cut from the stored 112 px ArcFace crops give distances within 0.05 of chips cut
from the full frames (Obama's three photos 0.10-0.39 apart, every other pair
0.68-0.91), at 93 ms per face against 121 ms on this CPU. dlib's own same-person
threshold is 0.6 and its clustering example uses 0.5, on raw descriptors; their
norms are 1.38-1.52 here, so on our unit vectors distances are about 1.4 times
smaller: Obama's photos 0.07-0.28 apart, two photos of Biden 0.29, hamilton's
close-up and Lin-Manuel Miranda's photo at most 0.34 (0.48 raw), every pair of
different people at least 0.46. The threshold sits between: 0.37 (0.52 raw).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from pipeline.embedding.base import Embedder, EmbedderConfig, FaceCrop, unit_rows
from pipeline.fsutil import sha256_file

NAME = "dlib"
LABEL = "dlib_resnet_v1"
# The model files of face-recognition-models 0.3.0 (pipeline/fsutil.py:sha256_file). Pinned: another file
# under the same name is refused rather than silently giving other vectors; dvc.yaml's curate stage
# reads these as parameters, so a new model reruns it.
MODEL_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
PREDICTOR_SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
# On unit vectors: the fixtures' same-person pairs <= 0.34, different people >= 0.46 (see above).
SAME_PERSON_DISTANCE = 0.37


# The files' places inside the face_recognition_models package (its own functions give the same,
# through pkg_resources, whose import took 0.24 s of every run: the package is located, not imported).
PACKAGE = "face_recognition_models"
PREDICTOR_FILE = "models/shape_predictor_5_face_landmarks.dat"
MODEL_FILE = "models/dlib_face_recognition_resnet_model_v1.dat"


@functools.cache
def model_files() -> tuple[Path, Path]:
    """(the 5-point shape predictor, the ResNet descriptor model) inside the installed wheel."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the dlib embedder needs the face-recognition-models package (pip install face-recognition-models)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / PREDICTOR_FILE, folder / MODEL_FILE


def model_identity(config: EmbedderConfig) -> tuple[Path, str]:
    for path, pinned in zip(model_files(), (PREDICTOR_SHA256, MODEL_SHA256)):
        if _sha256(path) != pinned:
            raise ValueError(f"{path}: sha256 {_sha256(path)} is not the pinned {pinned} (pipeline/embedding/dlib_resnet.py)")
    return model_files()[1], LABEL


@functools.cache
def _sha256(path: Path) -> str:
    return sha256_file(path)


def load(config: EmbedderConfig, model_path: Path) -> Embedder:
    return DlibEmbedder()


class DlibEmbedder(Embedder):
    name = NAME
    dim = 128
    same_person_distance = SAME_PERSON_DISTANCE

    def __init__(self) -> None:
        import dlib

        predictor, descriptor = model_files()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(predictor))
        self._net = dlib.face_recognition_model_v1(str(descriptor))

    def embed(self, faces: list[FaceCrop]) -> np.ndarray:
        out = np.zeros((len(faces), self.dim), np.float32)
        for i, face in enumerate(faces):
            image = np.ascontiguousarray(face.image_rgb)
            x1, y1, x2, y2 = (round(v) for v in face.bbox_xyxy_px)
            shape = self._shape(image, self._dlib.rectangle(x1, y1, x2, y2))
            out[i] = np.asarray(self._net.compute_face_descriptor(image, shape, 0), np.float32)
        return unit_rows(out)
