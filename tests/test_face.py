"""face: dlib detection, landmarks and embeddings on real photographs; landmark measures on synthetic points."""
import numpy as np
import pytest
from PIL import Image

from styletalker import face as F


@pytest.fixture(scope="module")
def grace():
    import matplotlib.cbook
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))  # [600, 512, 3]


@pytest.fixture(scope="module")
def astronaut():
    import skimage.data
    return skimage.data.astronaut()  # [512, 512, 3]


@pytest.fixture(scope="module")
def analyzer():
    return F.FaceAnalyzer()


def _shrink(image, side):
    """Resize so the shorter side is ``side``; returns (image, scale)."""
    h, w = image.shape[:2]
    s = side / min(h, w)
    small = np.asarray(Image.fromarray(image).resize((round(w * s), round(h * s)), Image.LANCZOS))
    return small, small.shape[1] / w


def _to_full(xy, scale):
    return (xy + 0.5) / scale - 0.5  # pixel centres at integers in both frames


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_one_face_with_plausible_landmarks(name, request, analyzer):
    image = request.getfixturevalue(name)
    result = analyzer.analyze(image)
    assert result is not None and result.n_faces == 1
    assert len(analyzer.detect(image)) == 1
    left, top, right, bottom = result.box
    lm = result.landmarks
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    margin = 0.15 * (right - left)  # the jaw line may leave dlib's box a little
    assert ((lm[:, 0] > left - margin) & (lm[:, 0] < right + margin)).all()
    assert ((lm[:, 1] > top - margin) & (lm[:, 1] < bottom + margin)).all()
    eyes_y, mouth_y = lm[36:48, 1].mean(), lm[F.MOUTH, 1].mean()
    assert eyes_y < mouth_y                                          # image y grows downwards
    assert lm[36, 0] < lm[45, 0]                                     # subject's right eye is on the image left
    ear = F.eye_aspect_ratio(lm)
    assert ear.shape == (2,) and ((ear > 0.18) & (ear < 0.45)).all()  # open eyes
    assert abs(F.yaw_from_landmarks(lm)) < 0.15                      # both photographs are near-frontal
    np.testing.assert_allclose(analyzer.landmarks(image), lm)        # same best face, same points
    assert analyzer.embedding(image).shape == (128,)


def test_tiny_frame_still_detected_and_consistent(grace, analyzer):
    full = analyzer.analyze(grace)
    small, scale = _shrink(grace, 64)                                # [75, 64, 3]: our frame size
    result = analyzer.analyze(small)
    assert result is not None
    lm = _to_full(result.landmarks.astype(np.float64), scale)
    iod_ratio = F.inter_ocular(lm) / F.inter_ocular(full.landmarks)
    assert abs(iod_ratio - 1) < 0.06
    assert F.landmark_error(lm, full.landmarks) < 0.1                # mean point error under 10% of the IOD
    # the same person at two scales is closer than two different people
    same = F.embedding_distance(result.embedding, full.embedding)
    assert same < F.DLIB_SAME_PERSON


def test_astronaut_crop_at_64px(astronaut, analyzer):
    crop = astronaut[20:276, 95:351]                                 # head and shoulders, as a dataset frame
    small, _ = _shrink(crop, 64)
    assert analyzer.analyze(small) is not None


def test_embeddings_separate_people(grace, astronaut, analyzer):
    g, a = analyzer.analyze(grace), analyzer.analyze(astronaut)
    assert F.embedding_distance(g.embedding, a.embedding) > F.DLIB_SAME_PERSON
    g_small = analyzer.analyze(_shrink(grace, 128)[0])
    assert F.embedding_distance(g.embedding, g_small.embedding) < F.DLIB_SAME_PERSON
    assert F.cosine_similarity(g.embedding, g_small.embedding) > F.cosine_similarity(g.embedding, a.embedding)
    np.testing.assert_allclose(F.cosine_similarity(a.embedding, a.embedding), 1.0, rtol=1e-6)


def test_float_input_and_no_face(grace, analyzer):
    small = _shrink(grace, 64)[0]
    np.testing.assert_allclose(analyzer.landmarks(small.astype(np.float32) / 255), analyzer.landmarks(small),
                               atol=1e-4)
    blank = np.full((64, 64, 3), 128, np.uint8)
    assert analyzer.analyze(blank) is None and analyzer.landmarks(blank) is None
    assert analyzer.embedding(blank) is None and analyzer.detect(blank) == []
    results = analyzer.analyze_many(np.stack([small[:64], blank]))
    assert results[0] is not None and results[1] is None


# ---- measures on synthetic landmarks

def _synthetic_face(lid_gap=4.0, mouth_gap=0.0):
    """Hand-placed [68, 2] landmarks: eyes with a given lid gap, a mouth with a given inner-lip gap."""
    lm = np.zeros((68, 2))
    for start, cx in ((36, 30.0), (42, 70.0)):               # p1..p6 around each eye, width 20
        lm[start:start + 6] = [(cx - 10, 50), (cx - 4, 50 - lid_gap / 2), (cx + 4, 50 - lid_gap / 2),
                               (cx + 10, 50), (cx + 4, 50 + lid_gap / 2), (cx - 4, 50 + lid_gap / 2)]
    lm[30] = (50, 70)                                         # nose tip, centred
    lm[48], lm[54] = (35, 90), (65, 90)                       # mouth corners, width 30
    for top, bottom, x in ((61, 67, 45), (62, 66, 50), (63, 65, 55)):
        lm[top], lm[bottom] = (x, 90 - mouth_gap / 2), (x, 90 + mouth_gap / 2)
    return lm


def test_eye_aspect_ratio():
    np.testing.assert_allclose(F.eye_aspect_ratio(_synthetic_face(lid_gap=0.0)), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(F.eye_aspect_ratio(_synthetic_face(lid_gap=6.0)), [0.3, 0.3])  # 6 / 20
    batch = np.stack([_synthetic_face(lid_gap=g) for g in (0.0, 2.0, 4.0)])[None]   # [1, 3, 68, 2]
    ear = F.eye_aspect_ratio(batch)
    assert ear.shape == (1, 3, 2) and (np.diff(ear[0, :, 0]) > 0).all()


def test_mouth_opening_inter_ocular_yaw_and_error():
    gaps = [0.0, 3.0, 6.0, 12.0]
    opening = F.mouth_opening(np.stack([_synthetic_face(mouth_gap=g) for g in gaps]))
    np.testing.assert_allclose(opening, np.array(gaps) / 30.0)
    lm = _synthetic_face()
    assert F.inter_ocular(lm) == pytest.approx(60.0)          # outer corners 36 (x=20) and 45 (x=80)
    assert F.yaw_from_landmarks(lm) == pytest.approx(0.0)
    turned = lm.copy()
    turned[30, 0] += 6.0
    assert F.yaw_from_landmarks(turned) == pytest.approx(0.1)
    shifted = lm + [3.0, 4.0]                                  # every point 5 px away
    assert F.landmark_error(shifted, lm) == pytest.approx(5 / 60)
    mouth_only = lm.copy()
    mouth_only[F.MOUTH] += [0.0, 6.0]
    assert F.landmark_error(mouth_only, lm, F.MOUTH) == pytest.approx(0.1)
    assert F.landmark_error(mouth_only, lm) == pytest.approx(0.1 * 20 / 68)
    a, b = np.array([3.0, 4.0]), np.zeros(2)
    assert F.embedding_distance(a, b) == pytest.approx(5.0)
    assert F.cosine_similarity(a, -a) == pytest.approx(-1.0)


def test_best_threshold_separates_and_balanced_accuracy():
    from styletalker.face import balanced_accuracy, best_threshold
    x = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    pos = np.array([0, 0, 0, 1, 1, 1], bool)
    thr = best_threshold(x, pos, above=True)
    assert 0.3 < thr < 0.6 and balanced_accuracy(x > thr, pos) == 1.0
    thr = best_threshold(x, ~pos, above=False)
    assert 0.3 < thr < 0.6
    assert balanced_accuracy(np.ones(6, bool), pos) == 0.5
