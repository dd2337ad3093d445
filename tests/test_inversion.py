"""Enc_I and inversion: W+ shapes, e4e's locked offsets, code recovery, refinement, SSIM, landmarks, checkpoints, the
invert command and its errors."""
import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from styletalker.checkpoint import save_model
from styletalker.data.frames import frame_bank, label_bank
from styletalker.data.prepare import face_crop
from styletalker.errors import StyletalkerError
from styletalker.gan.generator import Generator, generator_config
from styletalker.gan.weights import load_generator
from styletalker.imagemetrics import psnr, ssim
from styletalker.inversion.encoder import Encoder, code_levels, for_generator
from styletalker.inversion.invert import (SHIPPED_ENCODER, check_pair, encode, load_encoder, prepare_image,
                                          refine)
from styletalker.inversion.landmarks import LandmarkNet, LandmarkStage, from_unit, landmark_config, to_unit
from styletalker.inversion.train import EncoderStage, encoder_train_config
from styletalker.paths import DATA_DIR
from styletalker.training import read_log, train


@pytest.fixture(scope="module")
def quick_G():
    torch.manual_seed(0)
    return Generator(generator_config("quick")).eval()


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_encoder_output_has_the_generators_w_plus_shape(quick_G):
    E = Encoder(for_generator(quick_G), quick_G.w_avg)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    ws = E(x)
    assert ws.shape == (3, quick_G.num_ws, quick_G.cfg.w_dim)
    assert quick_G.synthesis(ws).shape == (3, 3, 32, 32)
    with pytest.raises(AssertionError):
        E(torch.zeros(1, 3, 64, 64))                                  # the wrong resolution is refused


def test_untrained_encoder_outputs_w_and_locked_offsets_stay_zero(quick_G):
    E = Encoder(for_generator(quick_G), quick_G.w_avg)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    ws = E(x)
    assert torch.allclose(ws, ws[:, :1].expand_as(ws))                # zero-initialised offsets: a W code
    _randomise(E)
    E.n_active.fill_(0)
    ws = E(x)
    assert torch.allclose(ws, ws[:, :1].expand_as(ws))                # every offset locked: still W
    E.n_active.fill_(2)
    ws = E(x)
    assert not torch.allclose(ws[:, 1], ws[:, 0]) and not torch.allclose(ws[:, 2], ws[:, 0])
    assert torch.allclose(ws[:, 3:], ws[:, :1].expand_as(ws[:, 3:]))  # the rest still locked


def test_code_levels_go_from_coarse_to_fine():
    for n in (7, 8, 12):
        lv = code_levels(n)
        assert lv[0] == 0 and lv[-1] == 2 and lv == sorted(lv) and set(lv) == {0, 1, 2}


def test_ssim_matches_skimage_and_psnr_is_per_image():
    from skimage.metrics import structural_similarity
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    b = (a + 0.2 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    ours = ssim(a, b)
    for i in range(2):
        ref = structural_similarity(a[i].permute(1, 2, 0).numpy(), b[i].permute(1, 2, 0).numpy(), channel_axis=2,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=2.0)
        assert abs(ours[i].item() - ref) < 1e-4
    assert torch.allclose(ssim(a, a), torch.ones(2))
    p = psnr(a, b)
    assert p.shape == (2,) and (p > 0).all() and psnr(a, a).min() > 100


def test_refinement_raises_psnr(quick_G):
    target = quick_G.synthesis(quick_G.sample_ws(2, seed=1)).detach()
    start = quick_G.sample_ws(2, seed=2)
    ws, curve = refine(quick_G, start, target, steps=15, lr=0.05)
    assert ws.shape == start.shape and len(curve) == 16
    assert curve[-1] > curve[0] + 1.0


def test_landmark_units_roundtrip_and_regressor_learns(small_dataset):
    xy = torch.rand(5, 68, 2) * 32
    assert torch.allclose(from_unit(to_unit(xy, 32), 32), xy, atol=1e-5)
    bank, lm = frame_bank(small_dataset, "train", False), label_bank(small_dataset, "train", "landmarks")
    assert len(bank) == len(lm) and lm.shape[1:] == (68, 2)
    torch.manual_seed(0)
    net = LandmarkNet(landmark_config("quick"))
    stage = LandmarkStage(net, bank, lm, batch=16, lr=2e-3)
    first = [stage.step(i)["rms_px"] for i in range(5)]
    for i in range(5, 120):
        stage.step(i)
    log = [stage.step(i)["rms_px"] for i in range(120, 130)]
    assert np.mean(log) < 0.5 * np.mean(first)   # 0.37 on world revision 2 (0.58 after the 70 steps that sufficed on 1)


def test_encoder_stage_loss_falls_and_resumes(quick_G, small_dataset, tmp_path):
    bank, lm = frame_bank(small_dataset, "train", False), label_bank(small_dataset, "train", "landmarks")
    L = LandmarkNet(landmark_config("quick")).eval()
    cfg = encoder_train_config("quick", steps=30, batch=8, samples=4, unlock_every=4, lr=3e-3)
    torch.manual_seed(0)
    E = Encoder(for_generator(quick_G), quick_G.w_avg)
    train(EncoderStage(E, quick_G, L, bank, lm, cfg), 20, tmp_path / "run", log_every=5, progress=False)
    E2 = Encoder(for_generator(quick_G), quick_G.w_avg)                  # a fresh process would start like this
    train(EncoderStage(E2, quick_G, L, bank, lm, cfg), 30, tmp_path / "run", log_every=5, progress=False)
    rows = read_log(tmp_path / "run")
    assert [r["step"] for r in rows] == [5, 10, 15, 20, 25, 30]          # resumed at 20, nothing repeated
    first, last = rows[0], rows[-1]
    assert last["l2"] < first["l2"] and last["code"] < first["code"]
    assert int(E2.n_active) == quick_G.num_ws - 1                     # unlocked progressively up to all offsets
    assert not any(p.requires_grad for p in quick_G.parameters())
    quick_G.requires_grad_(True)


def test_face_weights_peak_at_the_inner_face_and_keep_the_mean():
    from styletalker.gan.detail import face_weights
    lm = torch.full((2, 68, 2), float("nan"))
    lm[0, 17:] = torch.tensor([20.0, 40.0])                              # every inner point at (x=20, y=40)
    w = face_weights(lm, 64, face_weight=4.0, sigma_px=2.0)
    assert w.shape == (2, 1, 64, 64) and torch.allclose(w.mean((1, 2, 3)), torch.ones(2))
    assert tuple(divmod(int(w[0, 0].argmax()), 64)) in {(39, 19), (39, 20), (40, 19), (40, 20)}   # (row y, col x)
    assert w[0, 0, 39, 19] > 3 * w[0, 0, 5, 60]
    assert torch.allclose(w[1], torch.ones_like(w[1]))                   # no landmarks: a plain L1


def test_detail_stage_trains_only_the_last_layers_and_the_encoder(quick_G, small_dataset, tmp_path):
    from styletalker.gan.detail import DETAIL_PRESETS, train_detail
    bank, lm = frame_bank(small_dataset, "train", False)[:8], label_bank(small_dataset, "train", "landmarks")[:8]
    G = Generator(quick_G.cfg)
    G.load_state_dict(quick_G.state_dict())
    torch.manual_seed(0)
    E = Encoder(for_generator(G), G.w_avg)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    e_before = [p.detach().clone() for p in E.parameters()]
    cfg = dataclasses.replace(DETAIL_PRESETS["quick"], steps=40, batch=8, lr_g=0.01, lr_e=0.001, layers=3)
    stage, summary = train_detail(G, E, bank, lm, tmp_path / "detail", cfg, progress=False)
    ws = torch.randn(3, G.num_ws, G.cfg.w_dim)
    with torch.no_grad():
        assert torch.allclose(stage.render(ws), G.synthesis(ws), atol=1e-5)   # the split forward is the forward
    n = len(G.synthesis.layers) - cfg.layers
    changed = {k for k, v in G.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(tuple(f"synthesis.layers.{i}." for i in range(n, n + cfg.layers)))
                           for k in changed)                          # mapping, input and early layers frozen
    assert not any(k.endswith("magnitude_ema") for k in changed)
    assert any(not torch.equal(a, b) for a, b in zip(e_before, E.parameters()))
    rows = read_log(tmp_path / "detail")
    assert summary["done"] and rows[-1]["l1"] < rows[0]["l1"]
    assert not any(p.requires_grad for p in G.parameters()) and not E.training
    before = {k: v.clone() for k, v in G.state_dict().items()}              # layers=0: every synthesis layer
    train_detail(G, E, bank, lm, tmp_path / "all", dataclasses.replace(cfg, layers=0, steps=2), progress=False)
    changed = {k for k, v in G.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("synthesis.layers.0.") for k in changed)
    assert not any(k.startswith(("mapping.", "synthesis.input.")) for k in changed)


def test_encoder_checkpoint_roundtrip_and_config_mismatch(quick_G, tmp_path):
    E = Encoder(for_generator(quick_G), quick_G.w_avg)
    _randomise(E, 3)
    save_model(tmp_path / "enc", E, E.cfg, kind="encoder")
    E2 = load_encoder(tmp_path / "enc")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(E(x), E2(x)) and int(E2.n_active) == int(E.n_active)
    with pytest.raises(StyletalkerError, match="head_width"):
        load_encoder(tmp_path / "enc", expected=dataclasses.replace(E.cfg, head_width=7))
    with pytest.raises(StyletalkerError, match="encoder"):
        check_pair(E, Generator(generator_config("default")))


def test_prepare_image_resizes_with_a_warning_and_crops_faces():
    img = np.full((48, 80, 3), 200, np.uint8)
    out, warns = prepare_image(img, 32, align=False)
    assert out.shape == (32, 32, 3) and warns and "resized" in warns[0]
    out, warns = prepare_image(np.zeros((32, 32, 3), np.uint8), 32, align=False)
    assert not warns
    crop, found = face_crop(np.zeros((100, 80, 3), np.uint8), 64)
    assert crop.shape == (64, 64, 3) and not found
    portrait = np.asarray(Image.open(DATA_DIR / "samples" / "portrait_0.png").convert("RGB"))
    crop, found = face_crop(portrait, 64)
    assert found


shipped = pytest.mark.skipif(not SHIPPED_ENCODER.with_suffix(".safetensors").exists(),
                             reason="no shipped encoder")


@shipped
def test_shipped_encoder_recovers_a_samples_code_better_than_a_random_code():
    G, E = load_generator(), load_encoder()
    check_pair(E, G)
    ws = G.sample_ws(32, psi=0.7, seed=123)
    with torch.no_grad():
        pred = encode(E, G.synthesis(ws).clamp(-1, 1))
    err = (pred - ws).pow(2).mean((1, 2))
    other = (ws.roll(1, 0) - ws).pow(2).mean((1, 2))                  # another sample's code
    assert err.mean() < 0.5 * other.mean() and (err < other).float().mean() > 0.9


def run(*args):
    return subprocess.run([sys.executable, "-m", "styletalker", *args], capture_output=True, text=True)


@shipped
def test_invert_command_writes_codes_and_reconstruction(tmp_path):
    from safetensors.torch import load_file
    img = DATA_DIR / "samples" / "portrait_1.png"
    r = run("invert", str(img), "-o", str(tmp_path / "c.safetensors"), "--reconstruction", str(tmp_path / "r.png"))
    assert r.returncode == 0, r.stderr
    G = load_generator()
    ws = load_file(str(tmp_path / "c.safetensors"))["ws"]
    assert ws.shape == (1, G.num_ws, G.cfg.w_dim)
    assert np.asarray(Image.open(tmp_path / "r.png")).shape == (64, 64, 3)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((90, 120, 4), 128, np.uint8)).save(blank)
    r = run("invert", str(blank), "-o", str(tmp_path / "b.safetensors"))
    assert r.returncode == 0 and "warning" in r.stderr and "no face" in r.stderr


def test_invert_bad_input_one_line_error_nothing_written(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    cases = [
        (["invert", str(tmp_path / "missing.png"), "-o", str(tmp_path / "a.safetensors")], "does not exist"),
        (["invert", str(text), "-o", str(tmp_path / "a.safetensors")], "not an image"),
        (["invert", str(text), "-o", str(tmp_path / "a.pt")], "safetensors"),
        (["invert", str(text), "-o", str(tmp_path / "nope" / "a.safetensors")], "does not exist"),
        (["invert", str(DATA_DIR / "samples" / "portrait_0.png"), "-o", str(tmp_path / "a.safetensors"),
          "--encoder", str(tmp_path / "none")], "not found"),
    ]
    for args, words in cases:
        before = set(tmp_path.rglob("*"))
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert set(tmp_path.rglob("*")) == before


def test_closed_eye_frames_are_the_labelled_blinks_and_batches_over_sample_them(small_dataset):
    from styletalker.data.frames import EYE_CLOSED, closed_eye_frames, draw_frames
    from styletalker.errors import StyletalkerError
    eyes = label_bank(small_dataset, "train", "eye_open")
    closed = closed_eye_frames(small_dataset, "train")
    assert torch.equal(closed, torch.nonzero(eyes.mean(1) < EYE_CLOSED).flatten())
    assert bool((eyes[closed].mean(1) < EYE_CLOSED).all())
    n = len(eyes)
    # no share: the very stream of a plain randint, so runs without over-sampling are unchanged
    assert torch.equal(draw_frames(n, 16, torch.Generator().manual_seed(3)),
                       torch.randint(n, [16], generator=torch.Generator().manual_seed(3)))
    rare = torch.tensor([5, 11])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([draw_frames(n, 8, g, rare, share=0.25) for _ in range(200)])   # [200, 8]
    assert draws.shape == (200, 8) and bool(((draws >= 0) & (draws < n)).all())
    assert bool(torch.isin(draws[:, 6:], rare).all())                   # round(0.25 * 8) = 2 from the rare frames
    assert torch.isin(draws, rare).float().mean() >= 0.25
    with pytest.raises(StyletalkerError, match="closed eyes"):
        draw_frames(n, 8, g, torch.zeros(0, dtype=torch.long), share=0.25)


def test_encoder_stage_draws_the_configured_share_of_closed_eye_frames(quick_G, small_dataset, monkeypatch):
    import styletalker.inversion.train as itrain
    bank, lm = frame_bank(small_dataset, "train", False), label_bank(small_dataset, "train", "landmarks")
    seen, draw = [], itrain.draw_frames

    def spy(n, batch, gen, rare=None, share=0.0):
        seen.append(draw(n, batch, gen, rare, share))
        return seen[-1]
    monkeypatch.setattr(itrain, "draw_frames", spy)
    cfg = encoder_train_config("quick", batch=8, samples=0, closed_eyes=0.5)
    E = Encoder(for_generator(quick_G), quick_G.w_avg)
    stage = EncoderStage(E, quick_G, LandmarkNet(landmark_config("quick")).eval(), bank, lm, cfg,
                         closed=torch.tensor([7]))
    stage.step(0)
    quick_G.requires_grad_(True)
    assert len(seen) == 1 and seen[0].tolist()[4:] == [7, 7, 7, 7]     # half of the batch from the closed frames
