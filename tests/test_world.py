"""The renderer and the head geometry: exact coverage, consistent landmarks, poses that move what they should."""
import math

import numpy as np
import pytest
import torch

from styletalker.face import eye_aspect_ratio, mouth_opening
from styletalker.world import head, raster, render


def test_rasterize_exact_area_and_antialiasing():
    # A rectangle with fractional edges: total coverage equals its area, edge pixels are partial.
    rect = torch.tensor([[[10.25, 10.5], [30.25, 10.5], [30.25, 20.5], [10.25, 20.5]]])
    a = raster.rasterize(rect, 32, 40)
    assert a.sum().item() == pytest.approx(200.0, abs=1e-3)
    assert a[0, 15, 10].item() == pytest.approx(0.75, abs=1e-5)
    assert a[0, 10, 20].item() == pytest.approx(0.5, abs=1e-5)
    # Orientation does not matter (non-zero rule), and an ellipse's area converges to pi a b.
    assert raster.rasterize(rect.flip(1), 32, 40).sum().item() == pytest.approx(200.0, abs=1e-3)
    e = raster.ellipse(torch.tensor([[16.0, 16.0]]), torch.tensor([[10.0, 6.0]]), n=128)
    assert raster.rasterize(e, 32, 32, ss=8).sum().item() == pytest.approx(math.pi * 60, rel=0.01)


def test_windowed_rasterize_equals_full():
    g = torch.Generator().manual_seed(0)
    polys = raster.ellipse(torch.rand(16, 2, generator=g) * 50 + 5, torch.rand(16, 2, generator=g) * 4 + 1, n=12)
    assert torch.allclose(raster.rasterize(polys, 64, 64), raster.rasterize_windowed(polys, 64, 64), atol=1e-5)


def _render(b=4, res=128, seed=0, **frame):
    ident = head.sample_identities(b, torch.Generator().manual_seed(seed))
    return render.render(ident, head.rest_frames(b, **frame), res)


def test_render_shapes_range_and_determinism():
    img, lm = _render()
    assert img.shape == (4, 3, 128, 128) and lm.shape == (4, 68, 2)
    assert img.min() >= 0 and img.max() <= 1
    img2, lm2 = _render()
    assert torch.equal(img, img2) and torch.equal(lm, lm2)
    # Landmarks lie inside the frame and in dlib's anatomical order: brows above eyes above nose tip above mouth.
    assert (lm >= 0).all() and (lm < 128).all()
    y = lm[..., 1]
    assert (y[:, 17:27].mean(1) < y[:, 36:48].mean(1)).all()
    assert (y[:, 36:48].mean(1) < y[:, 30]).all() and (y[:, 30] < y[:, 48:68].mean(1)).all()
    assert (lm[:, 36, 0] < lm[:, 45, 0]).all()                     # subject's right eye on the image left


def test_landmarks_match_the_pixels():
    # Inside the open eye the pixels are the eye (white/iris/pupil), not skin; the inner mouth is dark when open.
    img, lm = _render(b=4, res=256, jaw_open=1.0)
    for i in range(4):
        eye_c = lm[i, 36:42].mean(0).round().long()
        skin = img[i, :, int(lm[i, 29, 1]), int(lm[i, 29, 0])]
        assert (img[i, :, eye_c[1], eye_c[0]] - skin).abs().sum() > 0.2
        m = ((lm[i, 62] + lm[i, 66]) / 2).round().long()
        assert img[i, :, m[1], m[0]].mean() < 0.45


def test_expressions_move_the_right_landmarks():
    open_img, open_lm = _render(jaw_open=1.0)
    shut_img, shut_lm = _render(jaw_open=0.0, eye_r=0.0, eye_l=0.0)
    assert (mouth_opening(open_lm.numpy()) > 0.3).all()
    assert (mouth_opening(shut_lm.numpy()) < 0.02).all()
    assert (eye_aspect_ratio(shut_lm.numpy()) < 0.02).all()
    assert (eye_aspect_ratio(open_lm.numpy()) > 0.15).all()
    # Mouth opening grows monotonically with jaw_open.
    ratios = [mouth_opening(_render(jaw_open=j)[1].numpy()).mean() for j in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert np.all(np.diff(ratios) > 0)


def test_pose_conventions():
    _, rest = _render()
    _, yaw = _render(yaw=20.0)
    _, pitch = _render(pitch=12.0)
    _, roll = _render(roll=10.0)
    nose = lambda lm: lm[:, 30] - (lm[:, 36] + lm[:, 45]) / 2   # noqa: E731
    assert (nose(yaw)[:, 0] > nose(rest)[:, 0] + 1).all()          # yaw > 0: nose to the image right
    assert (nose(pitch)[:, 1] > nose(rest)[:, 1]).all()            # pitch > 0: nose down (shorter nose-eye gap is up)
    d = roll[:, 45] - roll[:, 36]
    assert (torch.atan2(d[:, 1], d[:, 0]).rad2deg() > 7).all()    # roll > 0: clockwise in the image
    # Foreshortening: turning the head narrows the far half of the face.
    w = lambda lm: (lm[:, 16, 0] - lm[:, 8, 0]) / (lm[:, 8, 0] - lm[:, 0, 0])  # noqa: E731
    assert (w(yaw) < w(rest)).all()


def test_identity_factors_change_the_face():
    ident = head.sample_identities(1, torch.Generator().manual_seed(1)).repeat(2, 1)
    ident[0, head.IDENTITY_FACTORS.index("face_width")] = 0.0
    ident[1, head.IDENTITY_FACTORS.index("face_width")] = 1.0
    _, lm = render.render(ident, head.rest_frames(2), 128)
    width = lm[:, 16, 0] - lm[:, 0, 0]
    assert width[1] > width[0] * 1.1


def test_proportions_dlib_can_read():
    # World revision 2: mouths about as wide as the pupils are apart (revision 1: 0.54-0.74 of it, and dlib, whose
    # prior is learned on real faces, put the lip corners too far out), and a quarter-open eye shows only a sliver.
    ident = head.sample_identities(64, torch.Generator().manual_seed(0))
    _, lm = render.render(ident, head.rest_frames(64), 64)
    pupils = (lm[:, 36:42].mean(1) - lm[:, 42:48].mean(1)).norm(dim=-1)
    mouth = (lm[:, 48] - lm[:, 54]).norm(dim=-1)
    assert (mouth / pupils).min() > 0.7 and (mouth / pupils).mean() > 0.9
    _, lm_q = render.render(ident, head.rest_frames(64, eye_r=0.25, eye_l=0.25), 64)
    ratio = eye_aspect_ratio(lm_q.numpy()) / eye_aspect_ratio(lm.numpy())
    assert ratio.max() < 0.15                                       # linear lids would leave about 0.25
