"""Face alignment: a 5-point similarity fit to a named template, then one affine warp.

Conventions: points are (x, y) pixels, origin at the top-left of the full-resolution,
upright RGB frame; landmark order is left eye, right eye, nose tip, left mouth
corner, right mouth corner ("left" = image left). An affine ``M`` is 2x3 and maps
frame pixels to crop pixels: ``crop_xy = M @ [x, y, 1]`` (cv2.warpAffine's
convention), so a trainer can re-crop from the frame without detecting again.

Presets:
- ``arcface``: insightface's 112x112 template (:data:`ARCFACE_TEMPLATE_112`); other
  sizes follow insightface's rule (multiples of 112 scale it; multiples of 128
  scale it by size/128 and shift x by 8*size/128). Equal to
  ``insightface.utils.face_align.norm_crop``.
- ``ffhq``: FFHQ's oriented square ("quad") computed from eyes and mouth, as in
  the FFHQ dataset script, mapped onto the whole crop; 256, 512 or 1024 px.
``margin`` m >= 0 adds context: the face is shrunk about the crop centre by 1/(1+m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
ARCFACE_BASE_PX = 112
ARCFACE_ALT_BASE_PX = 128
ARCFACE_ALT_SHIFT_X_PX = 8.0
FFHQ_SIZES_PX = (256, 512, 1024)
# FFHQ's quad: the half-side is the larger of 2x eye distance and 1.8x eye-to-mouth;
# the centre sits 0.1 of eye-to-mouth below the eye midpoint.
FFHQ_EYE_SCALE = 2.0
FFHQ_MOUTH_SCALE = 1.8
FFHQ_CENTER_SHIFT = 0.1
PRESETS = ("arcface", "ffhq")
DEFAULT_PRESET = "arcface"
DEFAULT_SIZE_PX = {"arcface": 112, "ffhq": 512}


@dataclass(frozen=True)
class AlignConfig:
    """Alignment parameters; part of the stage fingerprint."""

    preset: str = DEFAULT_PRESET
    size_px: int | None = None
    margin: float = 0.0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.margin < 0:
            raise ValueError("margin must be >= 0")
        size = self.output_size_px
        if self.preset == "arcface" and size % ARCFACE_BASE_PX and size % ARCFACE_ALT_BASE_PX:
            raise ValueError(f"arcface size must be a multiple of 112 or 128, got {size}")
        if self.preset == "ffhq" and size not in FFHQ_SIZES_PX:
            raise ValueError(f"ffhq size must be one of {FFHQ_SIZES_PX}, got {size}")

    @property
    def output_size_px(self) -> int:
        return self.size_px or DEFAULT_SIZE_PX[self.preset]

    @property
    def text(self) -> str:
        return f"{self.preset}:{self.output_size_px}:margin={self.margin:g}"


def arcface_template(size_px: int = ARCFACE_BASE_PX, margin: float = 0.0) -> np.ndarray:
    """The arcface 5-point template for a ``size_px`` square crop (insightface's rule)."""
    if size_px % ARCFACE_BASE_PX == 0:
        ratio, shift_x = size_px / ARCFACE_BASE_PX, 0.0
    else:
        ratio = size_px / ARCFACE_ALT_BASE_PX
        shift_x = ARCFACE_ALT_SHIFT_X_PX * ratio
    template = ARCFACE_TEMPLATE_112 * ratio
    template[:, 0] += shift_x
    return _shrink_about_centre(template, size_px, margin)


def _shrink_about_centre(points: np.ndarray, size_px: int, margin: float) -> np.ndarray:
    centre = size_px / 2.0
    return (points - centre) / (1.0 + margin) + centre


def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``src`` to
    ``dst`` (Umeyama 1991); returns the 2x3 affine. Same result as skimage's
    ``SimilarityTransform.estimate``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / len(src)
    scale = (sigma * d).sum() / var_src
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def ffhq_quad(landmarks5: np.ndarray) -> np.ndarray:
    """FFHQ's crop quad (top-left, bottom-left, bottom-right, top-right) from 5 points."""
    pts = np.asarray(landmarks5, dtype=np.float64)
    eye_avg = (pts[0] + pts[1]) / 2
    eye_to_eye = pts[1] - pts[0]
    mouth_avg = (pts[3] + pts[4]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * FFHQ_EYE_SCALE, np.hypot(*eye_to_mouth) * FFHQ_MOUTH_SCALE)
    y = np.flipud(x) * [-1, 1]
    centre = eye_avg + eye_to_mouth * FFHQ_CENTER_SHIFT
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def estimate_affine(landmarks5: np.ndarray, config: AlignConfig) -> np.ndarray:
    """The 2x3 frame->crop affine for these landmarks under ``config``."""
    size = config.output_size_px
    if config.preset == "arcface":
        return umeyama_similarity(landmarks5, arcface_template(size, config.margin))
    quad = ffhq_quad(landmarks5)
    corners = np.array([[0, 0], [0, size], [size, size], [size, 0]], dtype=np.float64)
    return umeyama_similarity(quad, _shrink_about_centre(corners, size, config.margin))


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    return pts @ affine[:, :2].T + affine[:, 2]
