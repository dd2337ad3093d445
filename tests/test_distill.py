"""Distillation (st.gan.distill): pruning keeps the teacher's strongest channels with consistent indices, the student
learns the teacher's images, and ``styletalker train distill`` writes a student that Enc_I still fits."""
import dataclasses
import json

import pytest
import torch

from styletalker.checkpoint import save_model
from styletalker.cli import main as cli_main
from styletalker.errors import StyletalkerError
from styletalker.gan.distill import (DistillStage, check_student, channel_rms, distill_config, prune,
                                     teacher_images)
from styletalker.gan.generator import Generator, generator_config
from styletalker.gan.weights import load_generator
from styletalker.inversion.encoder import Encoder, for_generator
from styletalker.inversion.invert import check_pair
from styletalker.training import read_log, train


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return Generator(generator_config("quick")).eval()


def narrow(T):
    """Two thirds of T's channel_base and three quarters of its channel_max: every level loses channels."""
    return dataclasses.replace(T.cfg, channel_base=T.cfg.channel_base * 2 // 3, channel_max=T.cfg.channel_max * 3 // 4)


def _kill_surplus(T, cfg, seed=0):
    """A copy of T whose channels beyond the student's widths are dead (chosen at random positions): each layer
    gives them zero styles, so they change nothing downstream, and each is drawn only from dead inputs, so its output
    is zero. The pruned student must then draw exactly T's images."""
    D = Generator(T.cfg).eval()
    D.load_state_dict(T.state_dict())
    g = torch.Generator().manual_seed(seed)
    ct, cs = D.synthesis.schedule["channels"], Generator(cfg).synthesis.schedule["channels"]
    levels = zip([ct[0], *ct[:-1]], [cs[0], *cs[:-1]])                 # the input's outputs, then each layer's
    dead = [torch.randperm(int(t), generator=g)[:int(t) - int(s)] for t, s in levels]
    with torch.no_grad():
        inp = D.synthesis.input
        inp.weight[dead[0]] = 0
        inp.weight[:, torch.randperm(inp.channels, generator=g)[:len(dead[0])]] = 0   # unused frequencies
        for i, layer in enumerate(D.synthesis.layers):
            layer.affine.weight[dead[i]] = 0
            layer.affine.bias[dead[i]] = 0
            if i + 1 < len(dead):
                live = torch.ones(layer.weight.shape[1], dtype=torch.bool)
                live[dead[i]] = False
                rows = layer.weight[dead[i + 1]]
                rows[:, live] = 0
                layer.weight[dead[i + 1]] = rows
                layer.bias[dead[i + 1]] = 0
    return D


def test_pruning_to_the_teachers_own_widths_is_the_teacher(teacher):
    ws = teacher.sample_ws(6, seed=1)
    S = prune(teacher, teacher.cfg, ws)
    with torch.no_grad():
        assert torch.allclose(S.synthesis(ws), teacher.synthesis(ws), atol=1e-5)


def test_a_pruned_student_draws_the_teacher_exactly_when_the_cut_channels_are_dead(teacher):
    cfg = narrow(teacher)
    ct, cs = teacher.synthesis.schedule["channels"], Generator(cfg).synthesis.schedule["channels"]
    assert (cs[:-1] < ct[:-1]).all()
    T = _kill_surplus(teacher, cfg)
    ws = T.sample_ws(8, seed=2)
    rms = channel_rms(T, ws)
    ch = T.synthesis.schedule["channels"]
    assert [len(r) for r in rms] == [int(c) for c in [ch[0], *ch[:-1]]]
    S = prune(T, cfg, ws)
    assert sum(p.numel() for p in S.synthesis.parameters()) < 0.7 * sum(p.numel() for p in T.synthesis.parameters())
    with torch.no_grad():
        y_t, y_s = T.synthesis(ws), S.synthesis(ws)
    assert y_t.abs().mean() > 1e-3                                      # not trivially black
    assert torch.allclose(y_s, y_t, atol=1e-4)
    assert torch.equal(S.w_avg, T.w_avg)                                # same codes: Enc_I of T fits S
    E = Encoder(for_generator(T), T.w_avg)
    check_pair(E, S)


def test_a_student_keeps_the_teachers_layout_and_is_narrower(teacher):
    with pytest.raises(StyletalkerError, match="num_layers"):
        check_student(teacher, dataclasses.replace(teacher.cfg, num_layers=4))
    with pytest.raises(StyletalkerError, match="exceed"):
        check_student(teacher, dataclasses.replace(teacher.cfg, channel_base=1024))
    check_student(teacher, narrow(teacher))
    check_student(teacher, dataclasses.replace(narrow(teacher), margin=4))   # no parameters: a margin may change


def test_distillation_pulls_the_student_to_the_teacher_and_resumes(teacher, tmp_path):
    cfg = distill_config("quick", steps=40, batch=4, lr=3e-3)
    ws = teacher.sample_ws(24, seed=3)
    y = teacher_images(teacher, ws)
    S = prune(teacher, narrow(teacher), ws)
    mapping = {k: v.clone() for k, v in S.mapping.state_dict().items()}
    train(DistillStage(S, ws, y, cfg), 25, tmp_path / "run", log_every=5, progress=False)
    S2 = prune(teacher, narrow(teacher), ws)                             # a fresh process would start like this
    stage = DistillStage(S2, ws, y, cfg)
    train(stage, 40, tmp_path / "run", log_every=5, progress=False)
    rows = read_log(tmp_path / "run")
    assert [r["step"] for r in rows] == list(range(5, 45, 5))           # resumed at 25, nothing repeated
    assert rows[-1]["l1"] < 0.8 * rows[0]["l1"]
    assert all(torch.equal(v, S2.mapping.state_dict()[k]) for k, v in mapping.items())   # the mapping is T's
    assert stage.lr(0) == pytest.approx(cfg.lr) and stage.lr(cfg.steps) == pytest.approx(cfg.lr * cfg.lr_final)


def test_train_distill_writes_a_student_the_encoder_fits(teacher, small_dataset, tmp_path):
    save_model(tmp_path / "teacher", teacher, teacher.cfg, kind="generator")
    E = Encoder(for_generator(teacher), teacher.w_avg)
    save_model(tmp_path / "enc", E, E.cfg, kind="encoder")
    args = ["train", "distill", "--profile", "quick", "--data", str(small_dataset), "--generator",
            str(tmp_path / "teacher"), "--encoder", str(tmp_path / "enc"), "--out", str(tmp_path / "run"),
            "--steps", "6", "--quiet"]
    assert cli_main(args) == 0
    S = load_generator(tmp_path / "run" / "generator_quick_distilled")
    assert S.cfg == dataclasses.replace(teacher.cfg, channel_base=teacher.cfg.channel_base * 2 // 3)
    check_pair(E, S)
    meta = json.loads((tmp_path / "run" / "generator_quick_distilled.json").read_text())["meta"]
    assert meta["finished"] and meta["steps"] == 6 and meta["scheme"] == "distilled"
    assert set(meta) >= {"psnr_to_teacher", "psnr_to_real", "teacher_sha256"}
    bad = args[:-3] + ["--set", "num_layers=4", "--quiet"]
    assert cli_main(bad) == 2                                           # a layout change is refused, clearly


def test_the_shipped_distilled_generator_is_g_i_distilled():
    import hashlib

    from styletalker.gan.weights import SHIPPED_DISTILLED, SHIPPED_GENERATOR
    from styletalker.imagemetrics import psnr
    from styletalker.inversion.invert import load_encoder
    assert SHIPPED_DISTILLED.with_suffix(".safetensors").stat().st_size < 15e6
    S, T = load_generator(SHIPPED_DISTILLED), load_generator()
    check_student(T, S.cfg)
    assert sum(p.numel() for p in S.synthesis.parameters()) < 0.6 * sum(p.numel() for p in T.synthesis.parameters())
    check_pair(load_encoder(), S)                                       # Enc_I's codes drive it
    ws = T.sample_ws(8, psi=0.7, seed=0)
    with torch.no_grad():
        assert psnr(S.synthesis(ws), T.synthesis(ws)).mean() > 28       # measured in docs/distill_bars_default.json
    meta = json.loads(SHIPPED_DISTILLED.with_suffix(".json").read_text())["meta"]
    sha = hashlib.sha256(SHIPPED_GENERATOR.with_suffix(".safetensors").read_bytes()).hexdigest()[:16]
    assert meta["scheme"] == "distilled" and meta["finished"] and meta["teacher_sha256"] == sha


def _world_frames(root, resolution=64):
    """The val and test frames of a synthetic dataset re-rendered at ``resolution``: (uint8 [N, R, R, 3], lips
    landmarks [N, 20, 2])."""
    import numpy as np

    from styletalker.data import format as fmt
    from styletalker.data.frames import render_clip
    clips = fmt.list_clips(root, "val") + fmt.list_clips(root, "test")
    frames, marks = zip(*(render_clip(c, resolution) for c in clips))
    return np.concatenate(frames), np.concatenate(marks)[:, 48:]


def test_generation_renders_with_the_fine_tuned_pair_which_rebuilds_mouths_better(small_dataset):
    import numpy as np

    from styletalker.gan.weights import SHIPPED_DISTILLED, SHIPPED_RENDERER, load_renderer
    from styletalker.imagemetrics import psnr
    from styletalker.inversion.invert import (SHIPPED_ENCODER, SHIPPED_RENDER_ENCODER, encode, load_encoder,
                                              load_render_encoder)
    from styletalker.paths import portable
    from styletalker.talker.generate import SHIPPED_TALKER
    for path in (SHIPPED_RENDERER, SHIPPED_RENDER_ENCODER):
        assert path.with_suffix(".safetensors").stat().st_size < 15e6
    G, E = load_renderer(), load_render_encoder()
    check_pair(E, G)
    D, E0 = load_generator(SHIPPED_DISTILLED), load_encoder()
    assert G.cfg == D.cfg                                               # the distilled layout, fine-tuned
    meta = json.loads(SHIPPED_RENDERER.with_suffix(".json").read_text())["meta"]
    assert meta["finished"] and meta["scheme"].startswith("detail")
    assert (meta["from_generator"], meta["from_encoder"]) == (portable(SHIPPED_DISTILLED), portable(SHIPPED_ENCODER))
    for name in ("", "_gaussian"):                                      # the talker and both priors learnt its codes
        tmeta = json.loads(SHIPPED_TALKER.with_name(SHIPPED_TALKER.name + name + ".json").read_text())["meta"]
        assert tmeta["encoder"] == portable(SHIPPED_RENDER_ENCODER)
        assert tmeta["base_run"]["generator"] == portable(SHIPPED_RENDERER)
        assert tmeta["base_run"]["encoder"] == portable(SHIPPED_RENDER_ENCODER)
    frames, lips = _world_frames(small_dataset)                         # faces the pair never saw, at 64 px
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        new, old = (g.synthesis(encode(e, frames)).clamp(-1, 1) for g, e in ((G, E), (D, E0)))
    lo = np.floor(lips.min(1) - 3).clip(0, 63).astype(int)              # each frame's mouth box, 3 px margin
    hi = np.ceil(lips.max(1) + 3).clip(1, 64).astype(int)
    mouth = lambda y: np.mean([psnr(y[i:i + 1, :, lo[i, 1]:hi[i, 1], lo[i, 0]:hi[i, 0]],   # noqa: E731
                                    x[i:i + 1, :, lo[i, 1]:hi[i, 1], lo[i, 0]:hi[i, 0]]).item() for i in range(len(x))])
    assert psnr(new, x).mean() > psnr(old, x).mean() + 1.0             # measured: +2.1 dB (28.4 against 26.2)
    assert mouth(new) > mouth(old) + 2.0                                # measured: +3.6 dB (26.1 against 22.5)


def test_the_face_weighted_loss_and_a_second_stage_from_a_student(teacher, tmp_path):
    from styletalker.gan.distill import code_landmarks, distill
    cfg = distill_config("quick", steps=1, batch=4, codes=6, samples=2, face_weight=4.0)
    ws = teacher.sample_ws(8, seed=4)
    y = teacher_images(teacher, ws)
    S = prune(teacher, narrow(teacher), ws)
    with pytest.raises(StyletalkerError, match="landmarks"):
        DistillStage(S, ws, y, cfg)
    lm = torch.rand(10, 68, 2) * 32
    codes_lm = code_landmarks(lm, cfg)
    assert codes_lm.shape == (8, 68, 2) and torch.isnan(codes_lm[6:]).all() and torch.isfinite(codes_lm[:6]).all()
    assert torch.equal(codes_lm[[0, 5]], lm[[0, 9]])                    # the frames spread evenly over the bank
    losses = {}
    for name, landmarks in (("face", codes_lm), ("none", torch.full_like(codes_lm, float("nan")))):
        stage = DistillStage(prune(teacher, narrow(teacher), ws), ws, y, cfg, landmarks=landmarks)
        stage.gen.manual_seed(0)
        losses[name] = stage.step(0)["l1"]
    plain = DistillStage(prune(teacher, narrow(teacher), ws), ws, y, dataclasses.replace(cfg, face_weight=0.0))
    plain.gen.manual_seed(0)
    assert losses["none"] == pytest.approx(plain.step(0)["l1"], rel=1e-5)   # no landmarks: a plain L1
    assert losses["face"] != pytest.approx(losses["none"], rel=1e-3)
    # a second stage starts from the given student, not from a fresh pruning
    bank = (torch.rand(10, 3, 32, 32) * 255).byte()
    E = Encoder(for_generator(teacher), teacher.w_avg)
    trained = prune(teacher, narrow(teacher), ws)
    with torch.no_grad():
        trained.synthesis.layers[0].bias.add_(0.5)
    S2, _ = distill(teacher, E, bank, narrow(teacher), tmp_path / "s2", dataclasses.replace(cfg, steps=0),
                    progress=False, landmarks=lm, init=trained)
    assert torch.equal(S2.synthesis.layers[0].bias, trained.synthesis.layers[0].bias)
    with pytest.raises(StyletalkerError, match="config"):
        distill(teacher, E, bank, dataclasses.replace(narrow(teacher), channel_base=256), tmp_path / "s3",
                dataclasses.replace(cfg, steps=0), progress=False, landmarks=lm, init=trained)


def test_cached_targets_are_reused_only_for_what_made_them(teacher, tmp_path):
    from styletalker.gan.distill import cached_targets
    bank = (torch.rand(6, 3, 32, 32) * 255).byte()
    E = Encoder(for_generator(teacher), teacher.w_avg)
    cfg = distill_config("quick", codes=4, samples=3)
    ws, y = cached_targets(teacher, E, bank, cfg, tmp_path)
    stamp = (tmp_path / "targets.safetensors").stat().st_mtime_ns
    ws2, y2 = cached_targets(teacher, E, bank, cfg, tmp_path)
    assert torch.equal(ws, ws2) and torch.equal(y, y2)
    assert (tmp_path / "targets.safetensors").stat().st_mtime_ns == stamp          # read, not rendered again
    ws3, _ = cached_targets(teacher, E, bank, dataclasses.replace(cfg, seed=1), tmp_path)
    assert torch.equal(ws3[:4], ws[:4]) and not torch.equal(ws3[4:], ws[4:])   # other mapping samples
    other = Generator(teacher.cfg).eval()
    other.load_state_dict(teacher.state_dict())
    with torch.no_grad():
        other.synthesis.layers[-1].bias.add_(0.25)
    _, y4 = cached_targets(other, E, bank, dataclasses.replace(cfg, seed=1), tmp_path)
    assert not torch.allclose(y4, y)                                        # another teacher: rendered again
