"""posemetrics: pose from landmarks on rendered world frames, blink events and their F1, correlation."""
import numpy as np
import pytest
import torch

from styletalker import posemetrics as pm
from styletalker.face import FaceAnalyzer
from styletalker.world import clip as wclip
from styletalker.world import head


def _render(identity, yaw, pitch=None, roll=None, eyes=None, resolution=64):
    """World frames with the given pose (degrees, [T] each) -> (uint8 [T, R, R, 3], exact landmarks [T, 68, 2])."""
    T = len(yaw)
    z = np.zeros(T)
    pose = np.stack([yaw, z if pitch is None else pitch, z if roll is None else roll, z, z, np.ones(T)], 1)
    eyes = np.ones((T, 2)) if eyes is None else eyes
    return wclip.render_frames(identity, wclip.frame_params(pose, eyes, z, np.zeros((T, 4))), resolution)


@pytest.fixture(scope="module")
def posed():
    """Exact landmarks of 4 identities under random poses, and the poses: [4 * 40, 68, 2], [4 * 40, 3]."""
    rng = np.random.default_rng(0)
    ids = head.sample_identities(4, torch.Generator().manual_seed(0))
    lms, poses = [], []
    for ident in ids:
        p = np.stack([rng.uniform(-25, 25, 40), rng.uniform(-14, 14, 40), rng.uniform(-12, 12, 40)], 1)
        lms.append(_render(ident, p[:, 0], p[:, 1], p[:, 2])[1])
        poses.append(p)
    return np.concatenate(lms), np.concatenate(poses)


def test_roll_feature_is_the_eye_axis_angle_and_the_rest_is_roll_and_scale_invariant(posed):
    lm = posed[0][0]                                                       # one face, [68, 2]
    c = lm.mean(0)
    base = pm.pose_features(lm)
    for deg, s in ((10.0, 1.0), (-7.0, 1.7)):
        a = np.radians(deg)
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])    # clockwise on screen (y down)
        f = pm.pose_features((lm - c) @ R.T * s + c + 3.0)
        assert f[4] == pytest.approx(base[4] + deg, abs=1e-6)
        np.testing.assert_allclose(f[:4], base[:4], atol=1e-6)


def test_pose_estimator_recovers_world_pose_on_held_out_identities(posed):
    lm, pose = posed
    est = pm.PoseEstimator.fit(lm[:120], pose[:120])                       # 3 identities
    pred = est(lm[120:])                                                    # the 4th
    for j in range(3):
        assert pm.pearson(pred[:, j], pose[120:, j]) > 0.95, j
    assert np.abs(pred - pose[120:]).mean() < 2.0                          # degrees
    # several landmark sources at once: features are concatenated, and the same sources must be passed again
    est2 = pm.PoseEstimator.fit((lm[:120], lm[:120] + 0.1), pose[:120])
    assert est2.coef.shape == (2 * len(pm.FEATURES) + 1, 3)
    with pytest.raises(ValueError, match="landmark sources"):
        est2(lm[120:])


def test_yaw_sign_and_trend_from_dlib_on_rendered_frames(posed):
    est = pm.PoseEstimator.fit(*posed)                                     # calibrated on exact landmarks
    ident = head.sample_identities(1, torch.Generator().manual_seed(5))[0]
    yaw = np.linspace(-20, 20, 7)
    frames, _ = _render(ident, yaw, resolution=128)
    fa = FaceAnalyzer()
    lm = np.stack([fa.landmarks(f) for f in frames])                       # dlib's own detection and landmarks
    pred = est(lm)[:, 0]
    assert np.all(np.diff(pred) > 0), pred                                  # monotonic in the true yaw
    assert pred[0] < -5 and pred[-1] > 5                                    # with the right sign
    assert pm.pearson(pred, yaw) > 0.95


def test_regressor_and_dlib_pipeline_on_world_frames():
    from styletalker.inversion.invert import load_landmarks
    net = load_landmarks()
    ident = head.sample_identities(1, torch.Generator().manual_seed(3))[0]
    frames, true = _render(ident, np.linspace(-15, 15, 6), resolution=net.cfg.resolution)
    reg = pm.regress_landmarks(net, frames)
    assert reg.shape == (6, 68, 2) and reg.dtype == np.float32
    assert np.linalg.norm(reg - true, axis=-1).mean() < 1.5                # pixels, same (world) convention
    box = pm.box_from_landmarks(true[0])
    assert box[0] < true[0, :, 0].min() and box[2] > true[0, :, 0].max()
    lm, guess, found = pm.face_landmarks(frames, net, FaceAnalyzer())
    assert lm.shape == guess.shape == (6, 68, 2) and found.dtype == bool
    np.testing.assert_allclose(guess, reg - 0.5, atol=1e-5)                # dlib's convention: centres at integers
    assert np.linalg.norm(lm - (true - 0.5), axis=-1).mean() < 2.0


def test_blink_events_and_f1():
    eye = np.ones(30)
    eye[[3, 4]] = 0.1
    eye[[15, 16, 17]] = 0.2
    eye[29] = 0.0
    ev = pm.blink_events(eye, 0.5)
    np.testing.assert_array_equal(ev, [[3, 5], [15, 18], [29, 30]])
    np.testing.assert_array_equal(pm.blink_events(eye, 0.5, min_frames=2), [[3, 5], [15, 18]])
    assert pm.blink_events(np.ones(10), 0.5).shape == (0, 2)
    assert pm.event_f1(ev, ev)["f1"] == 1.0
    far = ev + 10
    far = far[far[:, 1] <= 40]
    assert pm.event_f1(far, ev, tolerance=2)["f1"] == 0.0                  # disjoint events
    assert pm.event_f1(ev + 1, ev, tolerance=2)["f1"] == 1.0               # within the tolerance
    assert pm.event_f1(np.zeros((0, 2)), np.zeros((0, 2)))["f1"] == 1.0    # nothing to find, nothing invented
    r = pm.event_f1(ev[:1], ev)                                            # one found of three, no false alarm
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 2) and r["precision"] == 1.0 and r["f1"] == pytest.approx(0.5)
    # one-to-one: two predictions near one true event count once
    assert pm.match_events([[3, 5], [4, 6]], [[3, 5]]) == (1, 1, 0)


def test_eye_openness_falls_when_the_rendered_eyes_close():
    ident = head.sample_identities(1, torch.Generator().manual_seed(1))[0]
    eyes = np.array([[1.0, 1.0], [0.5, 0.5], [0.05, 0.05]])
    _, lm = _render(ident, np.zeros(3), eyes=eyes)
    ear = pm.eye_openness(lm)
    assert ear[0] > ear[1] > ear[2] and ear[2] < 0.1


def test_pearson():
    x = np.arange(10.0)
    assert pm.pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pm.pearson(x, -x) == pytest.approx(-1.0)
    assert np.isnan(pm.pearson(x, np.ones(10)))
    y = 3 * x
    y[4] = np.nan
    assert pm.pearson(x, y) == pytest.approx(1.0)                          # non-finite pairs are skipped


def test_best_event_threshold_separates_dips_from_noise():
    rng = np.random.default_rng(0)
    opens, events = [], []
    for _ in range(4):
        o = 0.3 + 0.03 * rng.standard_normal(60)                          # open eyes, noisy measure
        starts = rng.choice(np.arange(5, 50, 12), 2, replace=False)
        for s in starts:
            o[s:s + 3] = 0.12                                              # blinks of 3 frames
        opens.append(o)
        events.append(np.array(sorted([[s, s + 3] for s in starts])))
    thr = pm.best_event_threshold(opens, events)
    assert 0.12 <= thr < 0.3 - 0.03
    for o, e in zip(opens, events):
        assert pm.event_f1(pm.blink_events(o, thr), e)["f1"] == 1.0
