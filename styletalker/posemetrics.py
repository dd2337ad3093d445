"""Motion metrics from 68 landmarks: head pose in degrees, eye openness, blink events and their F1, correlation.

These measure the motion-controllable mode (paper section 4: pose, blinks and lips of a reenacted video against the
motion and audio sources; DESIGN.md section 4). They are our construction, built on the 68-point layout of dlib and
of the world's labels (``styletalker.face``), so they apply to landmarks from dlib, from the landmark regressor
(:func:`regress_landmarks`, for the 64 px generated frames on which dlib mostly finds no face) or from ground truth.

Pose from landmarks (no 3D face model): the eye axis gives roll directly; after undoing the roll, horizontal and
vertical offsets of the nose and the face outline from the eye centre, over the inter-ocular distance, are proxies of
sin(yaw) and sin(pitch). :class:`PoseEstimator` maps these features to degrees by least squares, fitted once on
frames with known pose (the world's training split), which also absorbs the cross-talk between the proxies.

Blinks: a blink event is a run of frames whose eye openness lies below a threshold; predicted and true events are
matched one to one when their centres lie within ``tolerance`` frames, and F1 counts matched events.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .face import eye_aspect_ratio, inter_ocular

NOSE_TIP, NOSE_BOTTOM, JAW_RIGHT, JAW_LEFT = 30, 33, 0, 16
FEATURES = ("yaw_nose", "yaw_outline", "pitch_nose", "pitch_outline", "roll_deg")


def pose_features(lm) -> np.ndarray:
    """Pose features of landmarks [..., 68, 2] (x right, y down, pixels) -> [..., 5], in ``FEATURES`` order.

    roll_deg = atan2 of the eye axis (right eye centre -> left eye centre), in degrees: > 0 when the head turns
    clockwise in the image. The other features are measured after rotating the points by -roll about the eye centre c
    and are divided by the inter-ocular distance d (outer eye corners):
        yaw_nose      = (x_30 - c_x) / d              nose tip right of the eyes' centre: yaw > 0
        yaw_outline   = (x_30 - (x_0 + x_16) / 2) / |x_16 - x_0|   nose tip within the face outline
        pitch_nose    = (y_30 - c_y) / d              nose tip lower under the eyes: pitch > 0 (nose down)
        pitch_outline = ((y_0 + y_16) / 2 - c_y) / d  the outline's top ends (behind the face) rise as the nose dips
    Mouth points are left out on purpose, so the estimates do not move when only the mouth does.
    """
    lm = np.asarray(lm, np.float64)
    right, left = lm[..., 36:42, :].mean(-2), lm[..., 42:48, :].mean(-2)
    axis = left - right
    roll = np.arctan2(axis[..., 1], axis[..., 0])
    c = 0.5 * (right + left)
    cos, sin = np.cos(-roll)[..., None], np.sin(-roll)[..., None]
    rel = lm - c[..., None, :]
    x = rel[..., 0] * cos - rel[..., 1] * sin                                      # [..., 68], de-rolled
    y = rel[..., 0] * sin + rel[..., 1] * cos
    d = inter_ocular(lm)
    width = np.abs(x[..., JAW_LEFT] - x[..., JAW_RIGHT])
    return np.stack([x[..., NOSE_TIP] / d,
                     (x[..., NOSE_TIP] - 0.5 * (x[..., JAW_RIGHT] + x[..., JAW_LEFT])) / width,
                     y[..., NOSE_TIP] / d,
                     0.5 * (y[..., JAW_RIGHT] + y[..., JAW_LEFT]) / d,
                     np.degrees(roll)], -1)


@dataclasses.dataclass
class PoseEstimator:
    """(yaw, pitch, roll) in degrees from landmarks: a linear map of :func:`pose_features` (and a constant).

    ``lm`` is one landmark array [..., 68, 2] or a tuple of several for the same frames (e.g. dlib's and the
    regressor's), whose features are concatenated: the sources err differently (at 64 px dlib reads roll best, the
    regressor pitch). coef: [n_sources * len(FEATURES) + 1, 3]. ``PoseEstimator.fit(lm, pose)`` solves it by least
    squares on frames with known pose (pose [N, >= 3], first columns yaw, pitch, roll as in the world's labels)."""
    coef: np.ndarray

    @staticmethod
    def _design(lm) -> np.ndarray:
        srcs = lm if isinstance(lm, (tuple, list)) else (lm,)
        f = np.concatenate([pose_features(x) for x in srcs], -1)
        return np.concatenate([f, np.ones(f.shape[:-1] + (1,))], -1)

    @classmethod
    def fit(cls, lm, pose) -> "PoseEstimator":
        X = cls._design(lm)
        X = X.reshape(-1, X.shape[-1])
        Y = np.asarray(pose, np.float64).reshape(len(X), -1)[:, :3]
        ok = np.isfinite(X).all(1) & np.isfinite(Y).all(1)
        coef, *_ = np.linalg.lstsq(X[ok], Y[ok], rcond=None)
        return cls(coef)

    def __call__(self, lm) -> np.ndarray:
        """landmarks [..., 68, 2] (or a tuple of them, as fitted) -> (yaw, pitch, roll) degrees [..., 3]."""
        X = self._design(lm)
        if X.shape[-1] != len(self.coef):
            raise ValueError(f"fitted on {len(self.coef) - 1} features, got {X.shape[-1] - 1}: pass the same "
                             "landmark sources as to fit()")
        return X @ self.coef

    def to_dict(self) -> dict:
        return dict(features=list(FEATURES), coef=self.coef.tolist())


def eye_openness(lm) -> np.ndarray:
    """Mean eye aspect ratio of both eyes, [...] from [..., 68, 2] (about 0.3 open, near 0 closed)."""
    return eye_aspect_ratio(lm).mean(-1)


def blink_events(openness, threshold: float, min_frames: int = 1) -> np.ndarray:
    """Runs of frames with openness < threshold: openness [T] -> int [n_events, 2] of (start, end) frame indices,
    end exclusive; runs shorter than ``min_frames`` are dropped."""
    closed = np.concatenate([[False], np.asarray(openness) < threshold, [False]])
    edges = np.flatnonzero(np.diff(closed.astype(np.int8)))
    ev = edges.reshape(-1, 2)
    return ev[(ev[:, 1] - ev[:, 0]) >= min_frames] if len(ev) else np.zeros((0, 2), int)


def match_events(pred, true, tolerance: float = 2) -> tuple[int, int, int]:
    """One-to-one matching of events [n, 2] by their centres (closest pairs first), a pair matching when the
    centres lie within ``tolerance`` frames. Returns (true positives, false positives, false negatives)."""
    pred, true = np.asarray(pred, float).reshape(-1, 2), np.asarray(true, float).reshape(-1, 2)
    cp, ct = pred.mean(1), true.mean(1)
    dist = np.abs(cp[:, None] - ct[None, :])                                     # [n_pred, n_true]
    pairs = sorted((dist[i, j], i, j) for i in range(len(cp)) for j in range(len(ct)) if dist[i, j] <= tolerance)
    used_p, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    tp = len(used_p)
    return tp, len(cp) - tp, len(ct) - tp


def f1_from_counts(tp: int, fp: int, fn: int) -> dict:
    """precision, recall and F1 from event counts; with no events on either side every score is 1 (nothing to miss,
    nothing invented)."""
    if tp + fp + fn == 0:
        return dict(precision=1.0, recall=1.0, f1=1.0, tp=0, fp=0, fn=0)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return dict(precision=p, recall=r, f1=2 * tp / (2 * tp + fp + fn), tp=tp, fp=fp, fn=fn)


def event_f1(pred, true, tolerance: float = 2) -> dict:
    """F1 of predicted events against true ones ([n, 2] each, as from :func:`blink_events`)."""
    return f1_from_counts(*match_events(pred, true, tolerance))


def best_event_threshold(openness, true_events, tolerance: float = 2, candidates: int = 200) -> float:
    """The blink threshold on an openness measure that maximises event F1 summed over clips: openness a list of [T_i]
    arrays, true_events a list of [n_i, 2] event arrays (e.g. from ground truth). Candidates are evenly spaced from
    the smallest pooled value to the median, so a threshold never calls most frames closed."""
    pooled = np.concatenate([np.asarray(o, float) for o in openness])
    best, thr = -1.0, float(pooled.min())
    for c in np.linspace(pooled.min(), np.median(pooled), candidates)[1:]:
        counts = np.sum([match_events(blink_events(o, c), t, tolerance) for o, t in zip(openness, true_events)], 0)
        f1 = f1_from_counts(*[int(v) for v in counts])["f1"]
        if f1 > best:
            best, thr = f1, float(c)
    return thr


def pearson(x, y) -> float:
    """Pearson correlation of two equally long sequences over their finite pairs; NaN when either is constant."""
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")


def regress_landmarks(net, frames, batch: int = 256) -> np.ndarray:
    """The landmark regressor on frames: uint8 [N, R, R, 3] -> landmarks float32 [N, 68, 2] in pixels (the world's
    convention: pixel centres at 0.5 .. R - 0.5). Used where dlib finds no face (most 64 px generated frames)."""
    from .inversion.landmarks import from_unit
    x = torch.from_numpy(np.array(frames, np.uint8)).permute(0, 3, 1, 2).float() / 127.5 - 1
    R = net.cfg.resolution
    assert x.shape[-2:] == (R, R), f"the regressor takes {R} px frames, got {tuple(x.shape[-2:])}"
    with torch.no_grad():
        out = torch.cat([net(x[a:a + batch]) for a in range(0, len(x), batch)]) if len(x) else x.new_zeros(0, 68, 2)
    return from_unit(out, R).numpy().astype(np.float32)


# dlib's detector box relative to the bounding box of a face's 68 landmarks, measured on the default dataset's frames
# (288 frames where dlib finds the face): centre shifted up by 4.5 % of the height, 1.065 x wider, 1.16 x taller.
BOX_SHIFT_Y, BOX_SCALE = -0.045, (1.065, 1.16)


def box_from_landmarks(lm) -> tuple[float, float, float, float]:
    """A dlib-like face box (left, top, right, bottom) placed from landmarks [68, 2] (e.g. the regressor's)."""
    lo, hi = np.min(lm, 0), np.max(lm, 0)
    size = (hi - lo) * np.asarray(BOX_SCALE)
    c = (lo + hi) / 2 + np.array([0.0, BOX_SHIFT_Y]) * (hi - lo)
    return (float(c[0] - size[0] / 2), float(c[1] - size[1] / 2), float(c[0] + size[0] / 2), float(c[1] + size[1] / 2))


def face_landmarks(frames, net, analyzer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """68 landmarks of each frame uint8 [N, R, R, 3] from dlib's shape predictor: on dlib's detected box where the
    detector finds a face, else on a box placed from the landmark regressor's estimate (dlib's detector finds only
    about a fifth of the 64 px generated frames, while its shape predictor, given a box, reads the lips more
    faithfully than the small regressor: on ground-truth frames mouth opening against the true jaw r = 0.81 vs 0.68).

    Returns (dlib's landmarks float32 [N, 68, 2], the regressor's [N, 68, 2], both in dlib's convention with pixel
    centres at integers; detected bool [N])."""
    guess = regress_landmarks(net, frames) - 0.5                                  # world -> dlib pixel convention
    out, found = np.zeros((len(frames), 68, 2), np.float32), np.zeros(len(frames), bool)
    for i, f in enumerate(frames):
        boxes = analyzer.detect(f)
        found[i] = bool(boxes)
        out[i] = analyzer.landmarks(f, boxes[0] if boxes else box_from_landmarks(guess[i]))
    return out, guess, found
