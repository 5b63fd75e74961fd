"""insightface's ArcFace (any ``recognition`` model of a local pack, e.g. buffalo_l's ``w600k_r50.onnx``).

Used when asked for (``curate.embedder: arcface``) and the pack is present under
``models_root``; an absent pack is an error naming the folder looked in, and
nothing is ever downloaded. The face is warped from the stored crop to
ArcFace's 112x112 template by its landmarks (mapped into the crop). 512
numbers; on unit vectors insightface's usual same-person cosine similarity of
about 0.35 is a distance of about 1.14.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.alignment.presets import arcface_template, umeyama_similarity
from pipeline.embedding.base import Embedder, EmbedderConfig, FaceCrop, unit_rows
from pipeline.errors import ModelNotFoundError

NAME = "arcface"
SAME_PERSON_DISTANCE = 1.14
INPUT_PX = 112
# Preferred file names first; else any ONNX model insightface's model_zoo routes to ArcFace.
PREFERRED = ("w600k_r50.onnx", "glintr100.onnx", "w600k_mbf.onnx")


def pack_dir(config: EmbedderConfig) -> Path:
    return Path(config.models_root).expanduser().absolute() / config.model_pack


def model_identity(config: EmbedderConfig) -> tuple[Path, str]:
    folder = pack_dir(config)
    if not folder.is_dir():
        raise ModelNotFoundError(
            f"the arcface embedder needs an insightface model pack: no folder {folder} "
            "(unzip a pack such as buffalo_l.zip there, or set extract.models_root / extract.model_pack); nothing is downloaded"
        )
    for name in PREFERRED:
        if (folder / name).is_file():
            return folder / name, f"arcface:{name}"
    candidates = sorted(p for p in folder.glob("*.onnx") if not p.name.startswith(("det_", "1k3d", "2d106", "genderage")))
    if not candidates:
        raise ModelNotFoundError(f"no ArcFace recognition model (e.g. w600k_r50.onnx) in {folder}; nothing is downloaded")
    return candidates[0], f"arcface:{candidates[0].name}"


def load(config: EmbedderConfig, model_path: Path) -> Embedder:
    return ArcFaceEmbedder(model_path)


class ArcFaceEmbedder(Embedder):
    name = NAME
    dim = 512
    same_person_distance = SAME_PERSON_DISTANCE

    def __init__(self, model_path: Path) -> None:
        from insightface.model_zoo import get_model

        model = get_model(str(model_path), providers=["CPUExecutionProvider"], download=False)
        if model is None or getattr(model, "taskname", None) != "recognition":
            raise ValueError(f"{model_path} is not an ArcFace recognition model")
        self._model = model
        self.dim = int(model.output_shape[1])

    def embed(self, faces: list[FaceCrop]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        template = arcface_template(INPUT_PX)
        chips = []
        for face in faces:
            m = umeyama_similarity(np.asarray(face.landmarks5_px, np.float64).reshape(5, 2), template)
            bgr = cv2.cvtColor(np.ascontiguousarray(face.image_rgb), cv2.COLOR_RGB2BGR)
            chips.append(cv2.warpAffine(bgr, m, (INPUT_PX, INPUT_PX), borderValue=0.0))
        return unit_rows(self._model.get_feat(chips))
