"""G_I: modulation, alias-free filters, resampling, the layer schedule, equivariance, losses, checkpoints, training
resume, and the sample/train commands."""
import dataclasses
import math

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from styletalker.checkpoint import save_model
from styletalker.cli import main as cli_main
from styletalker.errors import StyletalkerError
from styletalker.gan.discriminator import Discriminator, discriminator_config, minibatch_stddev
from styletalker.gan.filters import (apply_separable, frequency_response, lowpass_filter, resample_matrix,
                                     upfirdn2d, upfirdn2d_reference)
from styletalker.gan.generator import (Generator, SynthesisInput, generator_config, layer_schedule, modulate_weights,
                                       modulated_conv2d)
from styletalker.gan.metrics import eq_t, frechet_distance, translate_integer
from styletalker.gan.train import (d_logistic_loss, d_r1_penalty, g_nonsaturating_loss,
                                   gan_train_config, train_generator)
from styletalker.gan.weights import SHIPPED_GENERATOR, load_generator


def test_demodulated_weights_have_unit_norm_per_output_channel():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 5, 3, 3, generator=g)
    s = torch.rand(4, 5, generator=g) * 3 + 0.1
    wm = modulate_weights(w, s)                                      # [N, O, I, k, k]
    norms = wm.square().sum([2, 3, 4]).sqrt()
    assert torch.allclose(norms, torch.ones(4, 8), atol=1e-5)
    plain = modulate_weights(w, s, demodulate=False)
    assert not torch.allclose(plain.square().sum([2, 3, 4]).sqrt(), torch.ones(4, 8), atol=0.1)


def test_modulated_conv_equals_grouped_per_sample_convolution():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 9, 9, generator=g)
    w = torch.randn(7, 5, 3, 3, generator=g)
    s = torch.rand(3, 5, generator=g) + 0.5
    # the reference: StyleGAN's fused form with per-sample weights (after its pre-normalisation)
    wn = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
    sn = s * s.square().mean().rsqrt()
    wm = modulate_weights(wn, sn)
    ref = F.conv2d(x.reshape(1, -1, 9, 9), wm.reshape(-1, 5, 3, 3), padding=2, groups=3).reshape(3, 7, 11, 11)
    assert torch.allclose(modulated_conv2d(x, w, s, padding=2), ref, atol=1e-4)


@pytest.mark.parametrize("profile", ["quick", "default", "full"])
def test_lowpass_filters_meet_cutoff_and_stopband(profile):
    """Every layer's filters pass below f_c - f_h, are at -6 dB at f_c, and attenuate beyond the stop-band f_t."""
    G = Generator(generator_config(profile))
    checked = 0
    for layer in G.synthesis.layers:
        tmp = layer.rates[1]
        for f, cutoff, side in ((layer.up_filter, layer.cutoffs[0], 0), (layer.down_filter, layer.cutoffs[1], 2)):
            if f.numel() == 0:
                continue
            s = layer_schedule(G.cfg)
            i = list(G.synthesis.layers).index(layer)
            hw = float(s["half_widths"][max(i - 1, 0)] if side == 0 else s["half_widths"][i])
            freq, mag = frequency_response(f, tmp)
            atten = scipy.signal.kaiser_atten(f.numel(), 2 * hw / (tmp / 2))   # the design's promise, in dB
            assert atten > 10
            assert abs(float(f.sum()) - 1) < 1e-5                        # unit DC gain
            passband = freq <= max(cutoff - hw, 0)
            stopband = freq >= cutoff + hw
            assert mag[passband].min() > 1 - 2 * 10 ** (-atten / 20) - 1e-3
            assert mag[stopband].max() < 2 * 10 ** (-atten / 20)
            if cutoff > hw:                                              # a transition band inside (0, f_t)
                assert abs(np.interp(cutoff, freq, mag) - 0.5) < 0.05
            checked += 1
    assert checked >= 4


def test_last_layers_are_critically_sampled_and_cutoffs_rise():
    cfg = generator_config("default")
    s = layer_schedule(cfg)
    assert np.all(np.diff(s["cutoffs"]) >= 0)
    assert np.allclose(s["cutoffs"][-cfg.num_critical - 1:], s["rates"][-cfg.num_critical - 1:] / 2)
    assert np.all(s["cutoffs"][:-cfg.num_critical - 1] < s["rates"][:-cfg.num_critical - 1] / 2)
    assert s["sizes"][-1] == cfg.resolution


@pytest.mark.parametrize("up,down,pad", [(2, 1, (9, 8, 9, 8)), (4, 1, (2, -1, 2, -1)), (1, 2, (0, 0, 0, 0)),
                                         (2, 2, (1, 2, 3, 4)), (2, 1, (-12, 14, 30, -5))])
def test_upfirdn2d_fast_paths_match_the_definition(up, down, pad):
    f = lowpass_filter(6 * max(up, down), 8, 10, 64)
    x = torch.randn(2, 3, 20, 24, generator=torch.Generator().manual_seed(2))
    ref = upfirdn2d_reference(x, f, up, down, pad, gain=up * up)
    assert torch.allclose(upfirdn2d(x, f, up, down, pad, gain=up * up), ref, atol=1e-5)
    if pad[0] == pad[2] and pad[1] == pad[3]:
        xs = torch.randn(2, 3, 22, 22)
        m = resample_matrix(22, f, up, down, (pad[0], pad[1]), gain=up)
        assert torch.allclose(apply_separable(xs, m), upfirdn2d_reference(xs, f, up, down, pad, gain=up * up),
                              atol=1e-5)


def test_generator_shapes_truncation_and_mixing_codes():
    torch.manual_seed(0)
    G = Generator(generator_config("quick")).eval()
    z = torch.randn(3, G.cfg.z_dim)
    ws = G.mapping(z)
    assert ws.shape == (3, G.num_ws, G.cfg.w_dim)
    assert torch.allclose(ws[:, 0], ws[:, -1])                      # broadcast to W+
    G.mapping.w_avg.copy_(torch.randn(G.cfg.w_dim))
    assert torch.allclose(G.mapping(z, psi=0.0), G.w_avg.expand(3, G.num_ws, -1))
    half = G.mapping(z, psi=0.5)
    assert torch.allclose(half, 0.5 * (ws + G.w_avg), atol=1e-5)
    img = G.synthesis(ws)
    assert img.shape == (3, 3, 32, 32) and torch.isfinite(img).all()


def test_synthesis_without_a_graph_equals_the_differentiable_one():
    # without a graph the layers take their in-place branch; it must give the differentiable branch's images
    torch.manual_seed(0)
    G = Generator(generator_config("quick")).eval()
    G.synthesis.cpu_micro_batch = 0                                  # one pass, like the graph's: equal bits
    ws = G.mapping(torch.randn(4, G.cfg.z_dim)).detach().requires_grad_(True)
    with_graph = G.synthesis(ws)
    with_graph.square().mean().backward()
    assert ws.grad is not None and torch.isfinite(ws.grad).all()
    with torch.no_grad():
        ws_copy = ws.detach().clone()
        without = G.synthesis(ws_copy)
    assert torch.equal(without, with_graph.detach()) and torch.equal(ws_copy, ws.detach())   # inputs untouched


def test_fourier_features_equal_the_full_grid_formula():
    # the input layer computes sin(2 pi (f . x + phi)) from separable x and y factors; check it against the grid
    torch.manual_seed(0)
    inp = SynthesisInput(w_dim=8, channels=6, size=12, rate=8.0, bandwidth=2.0)
    phi = torch.rand(2)                                              # a user translation moves the phases
    inp.transform[:2, 2] = phi
    x = inp(torch.randn(3, 8))                                       # a fresh affine gives the identity transform
    axis = ((torch.arange(12) + 0.5) / 12 * 2 - 1) * (0.5 * 12 / 8.0)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    arg = inp.freqs[:, 0, None, None] * gx + inp.freqs[:, 1, None, None] * gy + inp.phases[:, None, None]
    arg = arg + (inp.freqs @ phi)[:, None, None]
    ref = torch.einsum("oc,chw->ohw", inp.weight / math.sqrt(6), torch.sin(2 * math.pi * arg))
    assert x.shape == (3, 6, 12, 12) and torch.allclose(x, ref.expand(3, -1, -1, -1), atol=1e-5)


def test_micro_batched_synthesis_renders_the_batch_in_one_pass_images():
    torch.manual_seed(0)
    G = Generator(generator_config("quick")).eval()
    ws = G.sample_ws(5, seed=1)
    calls = []
    G.synthesis.input.register_forward_hook(lambda m, i, o: calls.append(len(o)))
    with torch.no_grad():
        G.synthesis.cpu_micro_batch = 2
        split = G.synthesis(ws)
        assert calls == [2, 2, 1]                                    # 5 images in micro-batches of 2
        G.synthesis.cpu_micro_batch = 0
        whole = G.synthesis(ws)
        assert calls[3:] == [5]
    assert torch.allclose(split, whole, atol=1e-5) and not torch.equal(split[:2], split[2:4])
    G.synthesis.cpu_micro_batch = 2
    calls.clear()
    G.synthesis(ws).sum().backward()                                 # with a graph: one pass
    G.train()
    with torch.no_grad():                                            # training mode (magnitude EMA): one pass
        G.synthesis(ws)
    assert calls == [5, 5]


def test_translate_integer_and_eq_t():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y, m = translate_integer(x, 0.25, 0)                             # one pixel to the right
    assert torch.equal(y[0, 0, :, 1:], x[0, 0, :, :3]) and m[0, 0, :, 0].sum() == 0
    torch.manual_seed(0)
    cfg = generator_config("quick", margin=10)
    eq_f = eq_t(Generator(cfg).eval(), n=8, max_shift=2 / 32)
    eq_b = eq_t(Generator(dataclasses.replace(cfg, filtered=False)).eval(), n=8, max_shift=2 / 32)
    assert eq_f > eq_b + 10, (eq_f, eq_b)                            # the filtered non-linearity removes aliasing


def test_losses_and_r1():
    zero = torch.zeros(4)
    assert math.isclose(float(d_logistic_loss(zero, zero)), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(float(g_nonsaturating_loss(zero)), math.log(2), rel_tol=1e-6)
    assert float(d_logistic_loss(torch.full((4,), 9.0), torch.full((4,), -9.0))) < 1e-3
    w = torch.randn(1, 3, 4, 4)
    real = torch.randn(5, 3, 4, 4, requires_grad=True)
    logits = (real * w).sum([1, 2, 3])                               # a linear D: grad = w everywhere
    assert torch.allclose(d_r1_penalty(logits, real), w.square().sum())


def test_minibatch_stddev_and_discriminator_shape():
    x = torch.randn(8, 4, 4, 4)
    y = minibatch_stddev(x, 4)
    assert y.shape == (8, 5, 4, 4)
    assert torch.allclose(minibatch_stddev(torch.ones(8, 4, 4, 4), 4)[:, -1], torch.full((8, 4, 4), 1e-4), atol=1e-5)
    D = Discriminator(discriminator_config("quick"))
    assert D(torch.randn(4, 3, 32, 32)).shape == (4,)


def _tiny_run(tmp_path, name, steps_kimg, bank):
    cfg = gan_train_config("quick", batch=4, kimg=steps_kimg, r1_every=2)
    stage, summary = train_generator(None, tmp_path / name, generator_config("quick"), discriminator_config("quick"),
                                     cfg, "cpu", progress=False, bank=bank, log_every=1, ckpt_every=2)
    return stage, summary


def test_training_resumes_exactly_from_its_checkpoint(tmp_path):
    bank = (torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    straight, s1 = _tiny_run(tmp_path, "a", 0.016, bank)             # 4 steps
    _tiny_run(tmp_path, "b", 0.008, bank)                            # 2 steps, then resumed to 4
    with open(tmp_path / "b" / "log.jsonl", "a") as f:               # a row logged after the checkpoint, then a crash
        f.write('{"step": 3, "loss_d": 9.9}\n')
    resumed, s2 = _tiny_run(tmp_path, "b", 0.016, bank)
    assert s1["step"] == s2["step"] == 4 and s2["done"]
    for a, b in zip(straight.G_ema.state_dict().values(), resumed.G_ema.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    log = (tmp_path / "a" / "log.jsonl").read_text().splitlines()
    assert len(log) == 4 and "loss_d" in log[0] and "loss_g" in log[0]
    resumed_log = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    resumed_steps = [__import__("json").loads(r)["step"] for r in resumed_log]
    assert resumed_steps == [1, 2, 3, 4]                             # no step logged twice across the resume


def test_checkpoint_reloads_identically_and_rejects_another_config(tmp_path):
    torch.manual_seed(3)
    G = Generator(generator_config("quick")).eval()
    G.mapping.w_avg.normal_()
    save_model(tmp_path / "g", G, G.cfg, kind="generator", meta=dict(note="test"))
    H = load_generator(tmp_path / "g.safetensors")
    ws = G.sample_ws(2, psi=0.7, seed=5)
    assert torch.equal(ws, H.sample_ws(2, psi=0.7, seed=5))
    with torch.no_grad():
        assert torch.equal(G.synthesis(ws), H.synthesis(ws))
    with pytest.raises(StyletalkerError, match="channel_max"):
        load_generator(tmp_path / "g", expected=generator_config("quick", channel_max=32))
    with pytest.raises(StyletalkerError, match="not found"):
        load_generator(tmp_path / "missing")


def test_shipped_generator_is_small_and_draws_faces():
    assert SHIPPED_GENERATOR.with_suffix(".safetensors").stat().st_size < 15e6
    G = load_generator()
    assert G.cfg.resolution == 64 and G.cfg.filtered
    img = G.synthesis(G.sample_ws(4, psi=0.7, seed=0))
    assert img.shape == (4, 3, 64, 64)
    # samples differ from each other and are not flat
    assert img.std(0).mean() > 0.05 and img.std([1, 2, 3]).min() > 0.1
    meta = __import__("json").loads(SHIPPED_GENERATOR.with_suffix(".json").read_text())["meta"]
    assert meta["hardware"] and meta["total_kimg"] > 0


def test_frechet_distance_zero_for_same_and_grows_with_shift():
    x = np.random.default_rng(0).normal(size=(500, 4))
    assert abs(frechet_distance(x, x)) < 1e-6
    assert frechet_distance(x, x + 1) == pytest.approx(4.0, rel=0.05)


def test_sample_command_writes_pngs_and_rejects_bad_input(tmp_path, capsys):
    from PIL import Image
    assert cli_main(["sample", "--n", "3", "--truncation", "0.7", "--seed", "7", "-o", str(tmp_path / "s")]) == 0
    files = sorted((tmp_path / "s").glob("*.png"))
    assert [f.name for f in files] == ["seed00007.png", "seed00008.png", "seed00009.png"]
    a = np.asarray(Image.open(files[0]))
    assert a.shape == (64, 64, 3)
    cli_main(["sample", "--n", "1", "--seed", "7", "-o", str(tmp_path / "t")])
    assert np.array_equal(a, np.asarray(Image.open(tmp_path / "t" / "seed00007.png")))   # one seed per sample
    assert cli_main(["sample", "--n", "0", "-o", str(tmp_path / "u")]) == 2
    assert cli_main(["sample", "--truncation", "5", "-o", str(tmp_path / "u")]) == 2
    assert cli_main(["sample", "--weights", str(tmp_path / "nope"), "-o", str(tmp_path / "u")]) == 2
    err = capsys.readouterr().err
    assert "at least one sample" in err and "truncation" in err and "not found" in err
    assert cli_main(["train", "generator", "--profile", "quick", "--data", str(tmp_path / "nodata")]) == 2
    assert "styletalker data" in capsys.readouterr().err


def test_reconstruction_scheme_learns_and_fits_the_mapping(tmp_path):
    from styletalker.gan.autoencoder import fit_mapping, gradient_l1, train_reconstruction
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blobs = [((xx - 10 - 3 * k) ** 2 + (yy - 16) ** 2 < 40).float() for k in range(4)]
    bank = (torch.stack([torch.stack([b, 1 - b, 0.5 * b]) for b in blobs]) * 255).to(torch.uint8)   # 4 frames
    a = torch.rand(2, 3, 8, 8)
    assert gradient_l1(a, a) == 0 and gradient_l1(a, a + 1) < 1e-6                                 # offset-blind
    G = Generator(generator_config("quick"))
    stage, summary = train_reconstruction(G, bank, tmp_path / "ae", kimg=0.12, batch=4, progress=False,
                                          mapping_steps=50)
    log = [__import__("json").loads(r) for r in (tmp_path / "ae" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["l1"] < 0.6 * log[0]["l1"]                        # it learns to reconstruct
    x = bank.float() / 127.5 - 1
    from styletalker.imagemetrics import psnr
    assert summary["psnr"] > psnr(torch.zeros_like(x), x).mean().item() + 2         # better than a flat grey guess
    codes = torch.randn(1000, G.cfg.w_dim) * 0.5 + 3.0
    fit_mapping(G, codes, steps=200)
    w = G.mapping(torch.randn(1000, G.cfg.z_dim))[:, 0]
    assert torch.allclose(G.w_avg, codes.mean(0)) and (w.mean(0) - 3.0).abs().mean() < 0.3


def test_face_weighted_reconstruction_counts_the_face_more():
    from styletalker.gan.autoencoder import AutoencoderStage
    bank = torch.full((2, 3, 32, 32), 128, dtype=torch.uint8)                  # mid grey: about 0 in [-1, 1]
    bank[:, :, 10:14, 10:14] = 255                                              # a bright "eye" at (12, 12)
    lm = torch.full((2, 68, 2), 12.0)                                           # every landmark on it
    G = Generator(generator_config("quick"))
    with pytest.raises(ValueError, match="landmarks"):
        AutoencoderStage(G, bank, batch=2, face_weight=4.0)
    with pytest.raises(ValueError, match="landmark rows"):                     # one landmark row per frame
        AutoencoderStage(G, bank, batch=2, landmarks=lm[:1], face_weight=4.0)
    losses = {}
    for fw in (0.0, 4.0):
        stage = AutoencoderStage(Generator(generator_config("quick")), bank, batch=2, landmarks=lm, face_weight=fw)
        stage.G.synthesis.forward = lambda ws: ws.sum() * 0 + torch.zeros(len(ws), 3, 32, 32)   # renders grey
        losses[fw] = stage.step(0)["l1"]
    # the error is almost all on the "eye" (16 of 1,024 pixels): the weighted loss counts it twice (2.1x)
    grey = 128 / 127.5 - 1
    assert abs(losses[0.0] - (1008 * grey + 16 * 1.0) / 1024) < 1e-4 and losses[4.0] > 1.5 * losses[0.0]


def test_seeded_codes_do_not_depend_on_the_batch():
    G = Generator(generator_config("quick")).eval()
    ws = G.ws_for_seeds([4, 9, 2], psi=0.8)
    assert torch.allclose(ws[1:2], G.sample_ws(1, psi=0.8, seed=9), atol=1e-6)       # same z, batched matmul
    assert torch.allclose(ws[2:], G.ws_for_seeds([2], psi=0.8), atol=1e-6)


def test_pca_directions_are_orthonormal_and_edit_moves_codes():
    from styletalker.gan.directions import edit, pca_directions
    G = Generator(generator_config("quick")).eval()
    d = pca_directions(G, n=300)
    c = d["components"]
    assert torch.allclose(c @ c.t(), torch.eye(len(c)), atol=1e-4)
    assert torch.all(d["sigma"][:-1] >= d["sigma"][1:]) and abs(float(d["share"].sum()) - 1) < 1e-5
    ws = G.sample_ws(2, seed=0)
    moved = edit(ws, d, [0.0, 2.0])
    assert torch.allclose((moved - ws)[0, 0], 2 * d["sigma"][1] * c[1], atol=1e-6)


def test_layer_schedule_refuses_inconsistent_bands():
    from styletalker.gan.generator import layer_schedule
    with pytest.raises(StyletalkerError, match="first_stopband"):          # a wider input band needs its stop-band
        layer_schedule(generator_config("default", first_cutoff=20.0))
    with pytest.raises(StyletalkerError, match="num_critical"):
        layer_schedule(generator_config("default", num_critical=6))
    assert generator_config("default").first_cutoff == 8                 # the shipped preset's wide input band
    s = layer_schedule(generator_config("default", first_cutoff=4.0, first_stopband=4 * 2 ** 1.1))
    assert s["cutoffs"][0] == 4 and s["cutoffs"][-1] == 32 and all(s["stopbands"] > s["cutoffs"])


def test_capacity_overfit_improves_and_reports_a_curve():
    from styletalker.gan.capacity import overfit_generator, overfit_plain
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    eyes = [((xx - c) ** 2 + (yy - 12) ** 2 < 4).float() for c in (10, 22)]
    x = torch.stack([torch.stack([1 - eyes[0] - eyes[1], 0.5 * eyes[0], eyes[1]])] * 2) * 2 - 1   # [2, 3, 32, 32]
    curve, y = overfit_plain(x, 60, every=30)
    assert [r["step"] for r in curve] == [0, 30, 60] and y.shape == x.shape
    assert curve[-1]["psnr"] > curve[0]["psnr"] + 3
    G = Generator(generator_config("quick"))
    frozen = {k: v.clone() for k, v in G.mapping.state_dict().items()}
    curve, y = overfit_generator(G, x, 20, every=10)
    assert y.shape == x.shape and curve[-1]["psnr"] > curve[0]["psnr"]
    assert all(torch.equal(v, G.mapping.state_dict()[k]) for k, v in frozen.items())   # only synthesis + codes
