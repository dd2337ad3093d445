"""Face analysis with dlib: detection, 68 landmarks, 128-D identity embeddings, and measures on landmarks.

This is the project's real, pretrained face toolkit (DESIGN.md section 4): the HOG detector and the 68-point shape
predictor give LMD, eye aspect ratio and the detection rate; the ResNet face-recognition model gives the identity
distance (dlib's same-person threshold is 0.6) and cosine similarity. The model files ship in the
``face-recognition-models`` wheel.

Our frames are tiny (32-64 px) while dlib's HOG detector needs faces of about 80 px, so every image is first
upscaled (bicubic) so that its shorter side is ``target_side`` pixels, and all coordinates are mapped back to the
original pixel frame. Landmark convention: dlib's 68-point order, (x, y) in pixels of the input image, pixel centres
at integer coordinates.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import threading

import numpy as np

from .errors import StyletalkerError

MOUTH = slice(48, 68)        # outer lip 48-59, inner lip 60-67
RIGHT_EYE = slice(36, 42)    # the subject's right eye (image left)
LEFT_EYE = slice(42, 48)
DLIB_SAME_PERSON = 0.6       # dlib's L2 threshold on 128-D embeddings for "same person"

_models: dict = {}
_models_lock = threading.Lock()


def _model_path(name: str) -> str:
    # find_spec locates the package without importing it (its __init__ imports pkg_resources)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise StyletalkerError("the face-recognition-models package is not installed: pip install "
                               "face-recognition-models")
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", name)
    if not os.path.exists(path):
        raise StyletalkerError(f"dlib model file {path} is missing: reinstall face-recognition-models")
    return path


def _model(kind: str):
    """Load a dlib model once per process: 'detector', 'shape' or 'recognition'."""
    with _models_lock:
        if kind not in _models:
            import dlib
            if kind == "detector":
                _models[kind] = dlib.get_frontal_face_detector()
            elif kind == "shape":
                _models[kind] = dlib.shape_predictor(_model_path("shape_predictor_68_face_landmarks.dat"))
            elif kind == "recognition":
                _models[kind] = dlib.face_recognition_model_v1(_model_path("dlib_face_recognition_resnet_model_v1.dat"))
            else:
                raise KeyError(kind)
        return _models[kind]


def to_uint8_rgb(image) -> np.ndarray:
    """uint8 [H, W, 3] RGB from uint8 or float-in-[0, 1] input, [H, W], [H, W, 3] or [H, W, 4]."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.floating):
            raise ValueError(f"image must be uint8 or float in [0, 1], got {image.dtype}")
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be [H, W, 3] RGB, got shape {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


@dataclasses.dataclass
class FaceResult:
    """One analysed face. box: (left, top, right, bottom) in input pixels; landmarks: float32 [68, 2];
    n_faces: how many faces the detector found in the image; ``embedding`` ([128] float32) is computed on first use."""
    box: tuple[float, float, float, float]
    n_faces: int
    landmarks: np.ndarray
    _image: np.ndarray = dataclasses.field(repr=False, default=None)
    _analyzer: "FaceAnalyzer" = dataclasses.field(repr=False, default=None)
    _embedding: np.ndarray | None = dataclasses.field(repr=False, default=None)

    @property
    def embedding(self) -> np.ndarray:
        if self._embedding is None:
            self._embedding = self._analyzer.embedding(self._image, self.landmarks)
        return self._embedding


class FaceAnalyzer:
    """dlib HOG detection, 68 landmarks and 128-D embeddings on images of any size.

    target_side: the image is upscaled (never downscaled) so its shorter side is about this many pixels before dlib
                 sees it; 256 lets a face filling a third of a 64 px frame reach dlib's ~80 px minimum.
    upsample:    extra pyramid upsamplings inside dlib's detector (slower; finds smaller faces).
    num_jitters: embedding jitters (0 = one pass; dlib's default of 1 re-samples the chip once).
    """

    def __init__(self, target_side: int = 256, upsample: int = 0, num_jitters: int = 0):
        self.target_side = target_side
        self.upsample = upsample
        self.num_jitters = num_jitters

    # -- scaling between the input frame and what dlib sees
    def _rescaled(self, image) -> tuple[np.ndarray, float]:
        """(image upscaled for dlib, scale factor s); original pixel x maps to (x + 0.5) * s - 0.5."""
        image = to_uint8_rgb(image)
        s = max(1.0, self.target_side / min(image.shape[:2]))
        if s == 1.0:
            return image, 1.0
        from PIL import Image
        h, w = image.shape[:2]
        size = (int(round(w * s)), int(round(h * s)))
        big = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
        return big, size[0] / w

    @staticmethod
    def _to_original(xy: np.ndarray, s: float) -> np.ndarray:
        return (xy + 0.5) / s - 0.5

    @staticmethod
    def _to_scaled(xy: np.ndarray, s: float) -> np.ndarray:
        return (xy + 0.5) * s - 0.5

    def _detect_scaled(self, big: np.ndarray) -> list:
        """dlib rectangles in the rescaled image, best detector score first."""
        rects, scores, _ = _model("detector").run(big, self.upsample, 0.0)
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        return [rects[i] for i in order]

    def _shape_scaled(self, big: np.ndarray, rect):
        return _model("shape")(big, rect)

    # -- public API
    def detect(self, image) -> list[tuple[float, float, float, float]]:
        """Face boxes (left, top, right, bottom) in input pixels as floats, sorted by detector score, best first."""
        big, s = self._rescaled(image)
        boxes = []
        for r in self._detect_scaled(big):
            lt = self._to_original(np.array([r.left(), r.top()], np.float64), s)
            rb = self._to_original(np.array([r.right(), r.bottom()], np.float64), s)
            boxes.append((float(lt[0]), float(lt[1]), float(rb[0]), float(rb[1])))
        return boxes

    def landmarks(self, image, box=None) -> np.ndarray | None:
        """68 landmarks float32 [68, 2] (x, y) in input pixels; box=None detects and uses the best face.
        Returns None when no face is found."""
        import dlib
        big, s = self._rescaled(image)
        if box is None:
            rects = self._detect_scaled(big)
            if not rects:
                return None
            rect = rects[0]
        else:
            l, t = self._to_scaled(np.array(box[:2], np.float64), s)
            r, b = self._to_scaled(np.array(box[2:], np.float64), s)
            rect = dlib.rectangle(int(round(l)), int(round(t)), int(round(r)), int(round(b)))
        return self._shape_to_array(self._shape_scaled(big, rect), s)

    def _shape_to_array(self, shape, s: float) -> np.ndarray:
        xy = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)  # [68, 2] in rescaled pixels
        return self._to_original(xy, s).astype(np.float32)

    def analyze(self, image) -> FaceResult | None:
        """Detect the best face and its landmarks; None if no face. The embedding is computed lazily."""
        image = to_uint8_rgb(image)
        big, s = self._rescaled(image)
        rects = self._detect_scaled(big)
        if not rects:
            return None
        r = rects[0]
        lt = self._to_original(np.array([r.left(), r.top()], np.float64), s)
        rb = self._to_original(np.array([r.right(), r.bottom()], np.float64), s)
        lm = self._shape_to_array(self._shape_scaled(big, r), s)
        return FaceResult(box=(float(lt[0]), float(lt[1]), float(rb[0]), float(rb[1])), n_faces=len(rects),
                          landmarks=lm, _image=image, _analyzer=self)

    def analyze_many(self, frames) -> list[FaceResult | None]:
        """analyze() for each frame of [T, H, W, 3] (or any iterable of images)."""
        return [self.analyze(f) for f in frames]

    def embedding(self, image, landmarks=None) -> np.ndarray | None:
        """dlib's 128-D face descriptor, float32 [128]; None if no face. ``landmarks`` [68, 2] in input pixels skip
        detection (the network aligns its 150 px face chip from them)."""
        import dlib
        big, s = self._rescaled(image)
        if landmarks is None:
            rects = self._detect_scaled(big)
            if not rects:
                return None
            shape = self._shape_scaled(big, rects[0])
        else:
            xy = self._to_scaled(np.asarray(landmarks, np.float64), s)
            if not np.all(np.isfinite(xy)):
                return None
            l, t = np.floor(xy.min(0)).astype(int)
            r, b = np.ceil(xy.max(0)).astype(int)
            pts = dlib.points([dlib.point(int(round(x)), int(round(y))) for x, y in xy])
            shape = dlib.full_object_detection(dlib.rectangle(int(l), int(t), int(r), int(b)), pts)
        desc = _model("recognition").compute_face_descriptor(big, shape, self.num_jitters)
        return np.asarray(desc, dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Measures on landmarks: all take [..., 68, 2] arrays (x, y) and broadcast over leading axes; NaN propagates.

def _dist(lm: np.ndarray, i: int, j: int) -> np.ndarray:
    return np.linalg.norm(lm[..., i, :] - lm[..., j, :], axis=-1)


def eye_aspect_ratio(lm) -> np.ndarray:
    """Eye aspect ratio (Soukupova & Cech 2016), [..., 2] for the subject's (right, left) eye.

    EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) with p1..p6 = points 36..41 (right eye) and 42..47 (left eye).
    About 0.25-0.35 for an open eye, near 0 when the lids touch.
    """
    lm = np.asarray(lm, dtype=np.float64)
    ears = []
    for p1 in (36, 42):
        p2, p3, p4, p5, p6 = p1 + 1, p1 + 2, p1 + 3, p1 + 4, p1 + 5
        ears.append((_dist(lm, p2, p6) + _dist(lm, p3, p5)) / (2.0 * _dist(lm, p1, p4)))
    return np.stack(ears, axis=-1)


def mouth_opening(lm) -> np.ndarray:
    """Inner-lip gap over mouth width, [...]: mean(|61-67|, |62-66|, |63-65|) / |48-54|. 0 for a closed mouth."""
    lm = np.asarray(lm, dtype=np.float64)
    gap = (_dist(lm, 61, 67) + _dist(lm, 62, 66) + _dist(lm, 63, 65)) / 3.0
    return gap / _dist(lm, 48, 54)


def inter_ocular(lm) -> np.ndarray:
    """Inter-ocular distance, [...]: distance between the outer eye corners, points 36 and 45 (the normalisation
    used for LMD and landmark_error in this project)."""
    return _dist(np.asarray(lm, dtype=np.float64), 36, 45)


def landmark_error(pred, gt, idx=None) -> np.ndarray:
    """Mean L2 distance between predicted and ground-truth landmarks over the points ``idx`` (default all 68),
    normalised by the ground truth's inter-ocular distance (outer eye corners 36-45). pred, gt: [..., 68, 2] -> [...].
    LMD on the mouth is ``landmark_error(pred, gt, MOUTH)``."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    sel = slice(None) if idx is None else idx
    err = np.linalg.norm(pred[..., sel, :] - gt[..., sel, :], axis=-1).mean(axis=-1)
    return err / inter_ocular(gt)


def yaw_from_landmarks(lm) -> np.ndarray:
    """A yaw proxy, [...]: horizontal offset of the nose tip (30) from the midpoint of the outer eye corners (36, 45),
    over the inter-ocular distance. 0 for a frontal face; positive when the nose points to the image right (the
    subject turns to their left). Roughly proportional to sin(yaw) for small angles; not calibrated in degrees."""
    lm = np.asarray(lm, dtype=np.float64)
    mid_x = 0.5 * (lm[..., 36, 0] + lm[..., 45, 0])
    return (lm[..., 30, 0] - mid_x) / inter_ocular(lm)


def embedding_distance(a, b) -> np.ndarray:
    """L2 distance between 128-D embeddings [..., 128] -> [...]; below 0.6 dlib calls it the same person."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def cosine_similarity(a, b) -> np.ndarray:
    """Cosine similarity of embeddings [..., D] -> [...] (CSIM-style identity score, 1 = identical direction)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def balanced_accuracy(pred, positive) -> float:
    """Mean of the true-positive and true-negative rates of boolean predictions (NaN-safe when a class is absent)."""
    pred, positive = np.asarray(pred, bool), np.asarray(positive, bool)
    rates = [np.mean(pred[positive]) if positive.any() else np.nan,
             np.mean(~pred[~positive]) if (~positive).any() else np.nan]
    return float(np.nanmean(rates))


def best_threshold(x, positive, above: bool = False) -> float:
    """The threshold on a measure x [N] that best separates ``positive`` [N] (balanced accuracy), searched over the
    midpoints between sorted values: positive means x > thr if ``above`` else x < thr. Used to fix EAR and mouth-
    opening thresholds on real frames from their ground truth."""
    x = np.asarray(x, np.float64)
    xs = np.unique(x)
    cands = np.concatenate([[xs[0] - 1e-6], (xs[1:] + xs[:-1]) / 2, [xs[-1] + 1e-6]])
    best, thr = -1.0, float(cands[0])
    for c in cands:
        ba = balanced_accuracy(x > c if above else x < c, positive)
        if ba > best:
            best, thr = ba, float(c)
    return thr
