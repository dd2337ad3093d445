"""D_sync and the sync evaluator: shapes, invariances, InfoNCE against a hand computation, training lowers the loss,
the sync loss reaches the frames, checkpoints round-trip, and the shipped networks prefer aligned audio."""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from styletalker.audio import save_wav
from styletalker.checkpoint import save_model
from styletalker.errors import StyletalkerError
from styletalker.sync.data import SyncClips, mouth_crop, video_windows
from styletalker.sync.evaluator import (EvaluatorConfig, SyncEvaluator, clip_mel, evaluator_config, lse,
                                        load_evaluator, offset_distances, scores_from_distances)
from styletalker.sync.model import DSync, SyncConfig, info_nce, load_dsync, sync_config, sync_loss, sync_score
from styletalker.sync.train import evaluator_train_config, sync_train_config, train_sync_net
from styletalker.training import read_log
from styletalker.videoio import read_video, read_video_audio, write_video

G = lambda s: torch.Generator().manual_seed(s)          # noqa: E731


def test_mouth_crop_is_the_lower_middle_in_grey():
    frames = torch.rand(2, 3, 3, 64, 64, generator=G(0))
    crop = mouth_crop(frames, (32, 48))
    assert crop.shape == (2, 3, 32, 48) and crop.min() >= -1 and crop.max() <= 1
    grey = 0.299 * frames[:, :, 0] + 0.587 * frames[:, :, 1] + 0.114 * frames[:, :, 2]
    torch.testing.assert_close(crop, grey[..., 32:, 8:56] * 2 - 1)
    # a 128 px face gives the same crop geometry, area-averaged to the same size
    big = frames.repeat_interleave(2, -1).repeat_interleave(2, -2)
    torch.testing.assert_close(mouth_crop(big, (32, 48)), crop, atol=1e-5, rtol=0)


def test_shapes_and_unit_embeddings():
    cfg = sync_config("quick")
    net = DSync(cfg).eval()
    v = net.embed_video(torch.randn(6, 5, cfg.crop_h, cfg.crop_w, generator=G(1)))
    a = net.embed_audio(torch.randn(6, 80, 20, generator=G(2)))
    assert v.shape == a.shape == (6, cfg.embed_dim)
    torch.testing.assert_close(v.norm(dim=1), torch.ones(6))
    frames, mel = torch.rand(2, 9, 3, 32, 32, generator=G(3)), torch.randn(2, 9, 80, 20, generator=G(4))
    assert sync_score(net, frames, mel).shape == (2,)
    ecfg = evaluator_config("quick")
    ev = SyncEvaluator(ecfg).eval()
    assert ev.embed_video(torch.randn(2, 11, ecfg.crop_h, ecfg.crop_w, generator=G(5))).shape == (2, 7, ecfg.embed_dim)
    assert ev.embed_audio(torch.randn(3, 80, 20, generator=G(6))).shape == (3, ecfg.embed_dim)


def test_evaluator_windows_are_independent_of_the_sequence():
    """Embedding a whole clip gives each 5-frame window the embedding it gets alone."""
    cfg = evaluator_config("quick")
    ev = SyncEvaluator(cfg).eval()
    crops = torch.randn(1, 12, cfg.crop_h, cfg.crop_w, generator=G(7))
    whole = ev.embed_video(crops)[0]
    alone = torch.cat([ev.embed_video(crops[:, j:j + 5])[0] for j in range(8)])
    torch.testing.assert_close(whole, alone, atol=1e-5, rtol=1e-4)
    assert video_windows(crops).shape == (1, 8, 5, cfg.crop_h, cfg.crop_w)


@pytest.mark.parametrize("train_mode", [False, True])
def test_similarity_matrix_follows_batch_permutations(train_mode):
    """Permuting the video batch by P and the audio batch by Q turns S into S[P][:, Q], in train and eval mode."""
    cfg = sync_config("quick")
    net = DSync(cfg).train(train_mode)
    vw, aw = torch.randn(8, 5, cfg.crop_h, cfg.crop_w, generator=G(8)), torch.randn(8, 80, 20, generator=G(9))
    p, q = torch.randperm(8, generator=G(10)), torch.randperm(8, generator=G(11))
    with torch.no_grad():
        s = net.similarity(net.embed_video(vw), net.embed_audio(aw))
        sp = net.similarity(net.embed_video(vw[p]), net.embed_audio(aw[q]))
    torch.testing.assert_close(sp, s[p][:, q], atol=1e-5, rtol=1e-4)


def test_info_nce_matches_a_hand_computation():
    logits = torch.randn(5, 5, generator=G(12))
    rows = -torch.stack([logits[i, i] - torch.logsumexp(logits[i], 0) for i in range(5)]).mean()
    cols = -torch.stack([logits[i, i] - torch.logsumexp(logits[:, i], 0) for i in range(5)]).mean()
    torch.testing.assert_close(info_nce(logits, symmetric=False), rows)
    torch.testing.assert_close(info_nce(logits), (rows + cols) / 2)
    # a perfect diagonal drives the loss to zero, a uniform matrix gives log B
    assert info_nce(torch.eye(5) * 50) < 1e-6
    torch.testing.assert_close(info_nce(torch.zeros(5, 5)), torch.tensor(np.log(5), dtype=torch.float32))


def test_lse_summary_follows_syncnet_python():
    """LSE-D = min over offsets of the mean distance, LSE-C = median - min, offset = vshift - argmin."""
    v = torch.randn(30, 4, generator=G(13))
    a = torch.roll(v, 3, 0) + 0.01 * torch.randn(30, 4, generator=G(14))     # a[j + 3] = v[j]: the audio lags
    d = offset_distances(v, a, vshift=5)
    ref = torch.stack([torch.stack([(v[j] - a[j + k]).norm() for j in range(30) if 0 <= j + k < 30]).mean()
                       for k in range(-5, 6)])
    torch.testing.assert_close(d, ref)
    r = scores_from_distances(d, vshift=5)
    assert r["offset"] == -3                       # syncnet_python's sign: the audio lags, so the offset is negative
    assert r["lse_d"] == pytest.approx(float(d.min())) and r["lse_c"] == pytest.approx(float(d.median() - d.min()))


def test_sync_loss_reaches_the_frames_not_the_frozen_net(tmp_path):
    cfg = sync_config("quick")
    net = DSync(cfg).eval().requires_grad_(False)
    frames = torch.rand(2, 8, 3, 32, 32, generator=G(15)).requires_grad_(True)
    mel = torch.randn(2, 8, 80, 20, generator=G(16)) * 3 - 7
    loss = sync_loss(frames, mel, net)
    loss.backward()
    g = frames.grad
    assert loss.ndim == 0 and torch.isfinite(g).all() and g.abs().sum() > 0
    assert g[..., :16, :].abs().sum() == 0         # only the mouth crop (lower half) matters
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(ValueError):
        sync_loss(frames[:1, :5], mel[:1, :5], net)


def test_checkpoint_round_trip_and_config_mismatch(tmp_path):
    cfg = sync_config("quick")
    net = DSync(cfg).eval()
    with torch.no_grad():                           # non-trivial BatchNorm statistics
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
    save_model(tmp_path / "d", net, cfg, kind="dsync")
    back = load_dsync(tmp_path / "d")
    x = torch.randn(3, 5, cfg.crop_h, cfg.crop_w, generator=G(17))
    torch.testing.assert_close(back.embed_video(x), net.embed_video(x))
    with pytest.raises(StyletalkerError, match="embed_dim"):
        load_dsync(tmp_path / "d", expected=SyncConfig(**{**cfg.__dict__, "embed_dim": 7}))
    ecfg = evaluator_config("quick")
    ev = SyncEvaluator(ecfg).eval()
    save_model(tmp_path / "e", ev, ecfg, kind="sync_evaluator")
    crops = torch.randn(1, 9, ecfg.crop_h, ecfg.crop_w, generator=G(18))
    torch.testing.assert_close(load_evaluator(tmp_path / "e").embed_video(crops), ev.embed_video(crops))
    with pytest.raises(StyletalkerError, match="not a 'dsync'"):
        load_dsync(tmp_path / "e")
    # own architecture and initialisation: the evaluator is not D_sync with other sizes
    assert EvaluatorConfig().seed != SyncConfig().seed and not hasattr(ev, "logit_scale")


@pytest.mark.parametrize("kind", ["dsync", "sync_evaluator"])
def test_loss_falls_on_a_tiny_training_run(small_dataset, tmp_path, kind):
    torch.manual_seed(0)
    if kind == "dsync":
        net_cfg, tcfg = sync_config("quick"), sync_train_config("quick", steps=80, clips=6, run=12, warmup=10)
    else:
        net_cfg, tcfg = evaluator_config("quick"), evaluator_train_config("quick", steps=80, clips=6, run=12,
                                                                          warmup=10)
    data = SyncClips(small_dataset, "train", (net_cfg.crop_h, net_cfg.crop_w))
    stage, summary = train_sync_net(kind, small_dataset, tmp_path, net_cfg, tcfg, progress=False, log_every=10,
                                    data=data)
    log = read_log(tmp_path)
    assert summary["done"] and len(log) == 8
    first, last = np.mean([r["loss"] for r in log[:2]]), np.mean([r["loss"] for r in log[-2:]])
    assert last < 0.8 * first, (first, last)


def test_rendered_crops_are_the_generators_and_mix_into_the_runs(small_dataset):
    """D_sync for the talker's loss also learns the renderer's mouths: SyncClips.add_rendered holds the mouth crops of
    G(codes) for every frame, and runs(rendered=p) draws a share p of the clips from them."""
    from styletalker.gan.generator import Generator, generator_config
    net_cfg = sync_config("quick")
    data = SyncClips(small_dataset, "train", (net_cfg.crop_h, net_cfg.crop_w))
    Gen = Generator(generator_config("quick")).eval()
    n = len(data.crops)
    codes = (Gen.w_avg + 0.5 * torch.randn(n, Gen.num_ws, Gen.cfg.w_dim, generator=G(3))).numpy()
    with pytest.raises(StyletalkerError, match="add_rendered"):
        data.runs(4, 8, G(0), rendered=0.5)
    with pytest.raises(StyletalkerError, match="codes"):
        data.add_rendered(Gen, codes[:-1])
    data.add_rendered(Gen, codes, batch=16)
    with torch.no_grad():
        y = Gen.synthesis(torch.from_numpy(codes[[0, n - 1]]))
    want = ((mouth_crop((y.clamp(-1, 1) + 1) / 2, data.crop) + 1) * 127.5).round()
    assert data.rendered.shape == data.crops.shape and data.rendered.dtype == torch.uint8
    torch.testing.assert_close(data.rendered[[0, n - 1]].float(), want, atol=1.0, rtol=0)
    assert (data.rendered.float() - data.crops.float()).abs().mean() > 5      # not the frames' crops

    def source(p, seed):                                                     # per clip: 1 rendered, 0 frames
        crops, _, clips = data.runs(6, 8, G(seed), augment=False, rendered=p)
        crops = ((crops + 1) * 127.5).round()
        own = [data.rendered[data.starts[c]: data.starts[c] + data.lengths[c]].float() for c in clips]
        rendered = torch.stack([(crops[b][:, None] == own[b][None]).all(-1).all(-1).any(1).all()
                                for b in range(len(clips))])
        return rendered.float()
    assert source(0.0, 1).max() == 0 and source(1.0, 1).min() == 1
    mixed = torch.cat([source(0.5, s) for s in range(8)])
    assert 0.25 < mixed.mean() < 0.75
    frames0, mel0, clips0 = data.runs(6, 8, G(5), augment=False)             # rendered=0 draws as before
    frames1, mel1, clips1 = data.runs(6, 8, G(5), augment=False, rendered=0.0)
    assert torch.equal(frames0, frames1) and torch.equal(clips0, clips1)


# ------------------------------------------------------------------------------ the shipped 64 px networks
@pytest.fixture(scope="module")
def clip64():
    """A ground-truth clip of an unseen identity at the shipped networks' 64 px: (frames uint8, audio, mel)."""
    from styletalker.world import clip, head
    ident = head.sample_identities(1, G(12345))[0]
    c = clip.make_clip(ident, "Maybe the yellow boat will carry seven heavy boxes to the market today.", "en+m3",
                       "nodding", seed=3, resolution=64)
    return c.frames, c.audio, clip_mel(c.audio, len(c.frames))


def test_shipped_evaluator_prefers_aligned_audio(clip64):
    frames, audio, _ = clip64
    r = lse(frames, audio)
    assert abs(r["offset"]) <= 1, r
    shift = int(0.2 * 16000)                        # 5 frames: the audio leads (its start cut)
    lead = lse(frames, np.concatenate([audio[shift:], np.zeros(shift, np.float32)]))
    assert abs(lead["offset"] - 5) <= 1, lead
    other = np.roll(audio, len(audio) // 2)         # the clip's own speech, out of order
    assert lse(frames, other)["lse_c"] < r["lse_c"]


def test_shipped_dsync_prefers_aligned_audio(clip64):
    frames, audio, mel = clip64
    f = torch.from_numpy(frames).permute(0, 3, 1, 2).float()[None] / 255
    with torch.no_grad():
        aligned = float(sync_score(load_dsync(), f, mel[None])[0])
        shifted = [float(sync_score(load_dsync(), f, torch.roll(mel, k, 0)[None])[0]) for k in (-8, -4, 4, 8)]
    assert aligned > max(shifted), (aligned, shifted)


def test_lse_survives_mp4_encoding(clip64, tmp_path):
    frames, audio, _ = clip64
    path = write_video(tmp_path / "c.mp4", frames, fps=25, audio=audio)
    back, fps = read_video(path)
    r0, r1 = lse(frames, audio), lse(back, read_video_audio(path))
    assert fps == 25 and len(back) == len(frames)
    assert r1["offset"] == r0["offset"]
    for k in ("lse_d", "lse_c"):
        assert abs(r1[k] - r0[k]) <= 0.05 * abs(r0[k]), (k, r0[k], r1[k])


def test_cli_evaluate_sync_and_its_errors(clip64, tmp_path, capsys):
    from styletalker.cli import main
    frames, audio, _ = clip64
    good = write_video(tmp_path / "good.mp4", frames, fps=25, audio=audio)
    r = subprocess.run([sys.executable, "-m", "styletalker", "evaluate", "sync", str(good)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "LSE-D" in r.stdout and "LSE-C" in r.stdout and "offset" in r.stdout
    silent = write_video(tmp_path / "silent.mp4", frames, fps=25)
    short = write_video(tmp_path / "short.mp4", frames[:12], fps=25, audio=audio[:12 * 640])
    slow = write_video(tmp_path / "slow.mp4", frames, fps=30, audio=audio)
    big = write_video(tmp_path / "big.mp4", frames.repeat(2, 1).repeat(2, 2), fps=25, audio=audio)
    wav = tmp_path / "speech.wav"
    save_wav(wav, audio)
    capsys.readouterr()
    assert main(["evaluate", "sync", str(silent), "--audio", str(wav)]) == 0
    assert main(["evaluate", "sync", str(big)]) == 0       # 128 px: a face crop, resized to the evaluator's scale
    out = capsys.readouterr().out
    assert "128x128" in out and abs(int(re.findall(r"offset ([+-]\d+)", out)[-1])) <= 1, out
    for args, words in [((str(tmp_path / "missing.mp4"),), "not found"), ((str(silent),), "no audio"),
                        ((str(short),), "needs at least"), ((str(slow),), "fps"),
                        ((str(good), "--weights", str(tmp_path / "nope")), "not found")]:
        assert main(["evaluate", "sync", *args]) != 0, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, lines)
