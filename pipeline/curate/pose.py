"""Head pose (yaw, pitch, roll) from the detector's 5 landmarks, for many faces at once.

How: a weak-perspective (scaled orthographic) fit of a generic 3D face of 5
points to the landmarks, closed form, no iteration. The model's x and y are
ArcFace's 112 px template (the frontal average of the points, in units of the
inter-ocular distance); its depths are anthropometric: the nose tip about 36 mm
and the mouth corners about 10 mm in front of the pupils, at a 63 mm
inter-pupillary distance. For each face, the 2x3 projection that maps the
centred model onto the centred landmarks is solved by least squares (the
model's pseudo-inverse is computed once), its rows are made the nearest
orthonormal pair (SVD), the third row is their cross product, and the rotation
is split as R = Rz(roll) Rx(pitch) Ry(yaw).

Conventions (image axes: x right, y down): ``yaw_deg`` > 0 when the face turns
toward the image's right (the nose points right); ``pitch_deg`` > 0 when it
looks up; ``roll_deg`` > 0 when it leans clockwise in the image (its right-hand
eye, in the image, lower). A horizontal flip negates yaw and roll and keeps
pitch (the model is left-right symmetric, and the detector names the points by
image side).

Accuracy (``tests/curate/test_pose.py``, CenterFace's landmarks): exact on the
model's own projections. The fixtures' frontal portraits read 2.6 to 13.3
degrees of yaw (they are turned a little, by eye), within +-15; flipped, they
read the opposite sign, the magnitude within 3 degrees (10 on the 112 px aligned
still: the detector itself is not mirror-symmetric). A true profile (hamilton.mp4
at 1.85 s, a man seen from his side) reads -93 degrees; hamilton's audience,
turned three-quarters toward the stage, -45 to -84. Past about 45 degrees the
figure is only as good as the detector's guess of the hidden eye and mouth
corner: read it as "strongly turned", not as a measured angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ArcFace's template (insightface's arcface_dst, 112 px): left eye, right eye, nose, mouth left, mouth right.
_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]])
# Depth of each point (into the scene, in inter-ocular distances): pupils 0, nose tip -0.57, mouth corners -0.16.
_DEPTH_IOD = np.array([0.0, 0.0, -0.57, -0.16, -0.16])


def _model() -> np.ndarray:
    iod = float(np.linalg.norm(_TEMPLATE_112[1] - _TEMPLATE_112[0]))
    xy = (_TEMPLATE_112 - _TEMPLATE_112[:2].mean(axis=0)) / iod
    mirror = [1, 0, 2, 4, 3]
    xy[:, 0], xy[:, 1] = (xy[:, 0] - xy[mirror, 0]) / 2, (xy[:, 1] + xy[mirror, 1]) / 2  # exactly left-right symmetric
    points = np.column_stack([xy, _DEPTH_IOD])
    return points - points.mean(axis=0)


MODEL_POINTS = _model()
_PINV = np.linalg.pinv(MODEL_POINTS)  # 3x5


@dataclass(frozen=True)
class Poses:
    """Angles in degrees, one per face."""

    yaw_deg: np.ndarray
    pitch_deg: np.ndarray
    roll_deg: np.ndarray


def rotations(landmarks5_px: np.ndarray) -> np.ndarray:
    """(N, 10) landmarks (x, y of the 5 points) -> (N, 3, 3) rotations, model -> image axes."""
    points = np.asarray(landmarks5_px, dtype=np.float64).reshape(-1, 5, 2)
    centred = points - points.mean(axis=1, keepdims=True)
    projection = np.einsum("ij,njk->nik", _PINV, centred)  # (N, 3, 2): columns are the first two rows of s*R
    u, _, vt = np.linalg.svd(projection, full_matrices=False)
    rows = u @ vt  # nearest matrices with orthonormal columns
    r1, r2 = rows[:, :, 0], rows[:, :, 1]
    return np.stack([r1, r2, np.cross(r1, r2)], axis=1)


def head_pose(landmarks5_px: np.ndarray) -> Poses:
    """Yaw, pitch and roll (degrees) of each face from its 5 landmarks (N x 10)."""
    r = rotations(landmarks5_px)
    pitch = np.arcsin(np.clip(r[:, 2, 1], -1.0, 1.0))
    yaw = np.arctan2(-r[:, 2, 0], r[:, 2, 2])
    roll = np.arctan2(-r[:, 0, 1], r[:, 1, 1])
    return Poses(np.degrees(-yaw), np.degrees(-pitch), np.degrees(roll))


def project(yaw_deg: float, pitch_deg: float, roll_deg: float, scale_px: float = 60.0, centre_px=(320.0, 180.0)) -> np.ndarray:
    """The model's 5 points seen at this pose (orthographic, ``scale_px`` per inter-ocular
    distance), as a landmarks row of 10 values: the inverse of :func:`head_pose`."""
    a, b, c = np.radians(roll_deg), np.radians(-pitch_deg), np.radians(-yaw_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    ry = np.array([[np.cos(c), 0, np.sin(c)], [0, 1, 0], [-np.sin(c), 0, np.cos(c)]])
    image = (MODEL_POINTS @ (rz @ rx @ ry).T)[:, :2] * scale_px + np.asarray(centre_px)
    return image.ravel()
