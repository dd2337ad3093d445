"""The conditional sequential VAE's pieces: shapes, the identity property of the w manipulation, the KL (analytic and
Monte Carlo), the autoregressive prior's sampling and chunked state, and a checkpoint round trip."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from styletalker.checkpoint import load_model, save_model
from styletalker.errors import StyletalkerError
from styletalker.talker.model import Talker
from styletalker.talker.modules import AudioEncoder, TalkerConfig, WManipulation, talker_config
from styletalker.talker.prior import gaussian_log_prob, kl_gaussian, kl_monte_carlo, reparameterise, standard_normal

B, T = 3, 6


@pytest.fixture(scope="module")
def cfg():
    return talker_config("quick")


def _inputs(cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    ws_ref = torch.randn(B, cfg.num_ws, cfg.w_dim, generator=g)
    ws = ws_ref[:, None] + 0.3 * torch.randn(B, T, cfg.num_ws, cfg.w_dim, generator=g)
    mel = -7 + 3 * torch.randn(B, T, cfg.n_mels, cfg.mel_window, generator=g)
    return ws_ref, ws, mel


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def test_shapes(cfg):
    torch.manual_seed(0)
    net = Talker(cfg)
    ws_ref, ws, mel = _inputs(cfg)
    out = net.elbo_terms(ws_ref, mel, ws)
    assert out["ws_hat"].shape == (B, T, cfg.num_ws, cfg.w_dim)
    assert out["m"].shape == out["mu"].shape == (B, T, cfg.motion_dim)
    assert out["a"].shape == (B, T, cfg.audio_dim) and out["kl"].shape == (B, T)
    assert net.reenact(ws_ref, mel, ws).shape == (B, T, cfg.num_ws, cfg.w_dim)
    w, state = net.drive(ws_ref, mel)
    assert w.shape == (B, T, cfg.num_ws, cfg.w_dim) and state["h"].shape == (B, cfg.hidden)


def test_manipulation_keeps_the_reference_for_silence_and_zero_motion(cfg):
    torch.manual_seed(0)
    enc, man = AudioEncoder(cfg), WManipulation(cfg)
    _randomise(enc, 1)
    _randomise(man, 2)                                               # not just the zero-initialised start
    ws_ref, _, mel = _inputs(cfg)
    silence = torch.full_like(mel, cfg.silence_db)
    a = enc(silence)
    assert a.abs().max() < 1e-5 * enc(mel).abs().max() + 1e-4        # a_t is centred on silence (to rounding)
    out = man(ws_ref, torch.zeros_like(a), torch.zeros(B, T, cfg.motion_dim))
    assert torch.equal(out, ws_ref[:, None].expand_as(out))            # f(W+_ref, 0, 0) = 0 exactly
    # speech moves only the audio layers; motion may move every layer
    da, dm = man.offsets(ws_ref, enc(mel), torch.randn(B, T, cfg.motion_dim))
    frozen = [k for k in range(cfg.num_ws) if k not in cfg.audio_layers]
    assert da[:, :, frozen].abs().max() == 0 and da[:, :, list(cfg.audio_layers)].abs().max() > 0
    assert dm.abs().amax((0, 1, 3)).min() > 0


def test_lip_gain_scales_the_audio_offset_alone_and_defaults_to_the_talkers(cfg):
    """W+_hat(g) = W+_hat(0) + g (W+_hat(1) - W+_hat(0)): the gain scales the audio path's offset and nothing else;
    gain 0 is the reference plus motion; compose, reenact and drive take the talker's default_lip_gain when none is
    given."""
    torch.manual_seed(0)
    net = Talker(cfg).eval()
    _randomise(net.manipulation, 2)
    ws_ref, ws, mel = _inputs(cfg)
    a, m = net.audio(mel), torch.randn(B, T, cfg.motion_dim)
    w0, w1, w2 = (net.manipulation(ws_ref, a, m, g) for g in (0.0, 1.0, 2.5))
    assert torch.equal(w1, net.manipulation(ws_ref, a, m))                  # 1 is what training uses
    assert torch.equal(w0, net.manipulation(ws_ref, torch.zeros_like(a), m))
    assert torch.allclose(w2, w0 + 2.5 * (w1 - w0), atol=1e-5) and (w2 - w1).abs().max() > 1e-3
    plain = net.reenact(ws_ref, mel, ws)
    net.default_lip_gain = 1.7
    assert torch.equal(net.reenact(ws_ref, mel, ws), net.reenact(ws_ref, mel, ws, lip_gain=1.7))
    assert torch.equal(net.reenact(ws_ref, mel, ws, lip_gain=1.0), plain)
    assert torch.equal(net.compose(ws_ref, a, m), net.manipulation(ws_ref, a, m, 1.7))
    assert torch.equal(net.compose(ws_ref, a, m, lip_gain=2.5), w2)
    g = lambda: torch.Generator().manual_seed(3)                             # noqa: E731
    assert torch.equal(net.drive(ws_ref, mel, gen=g())[0], net.drive(ws_ref, mel, gen=g(), lip_gain=1.7)[0])
    assert not torch.equal(net.drive(ws_ref, mel, gen=g())[0], net.drive(ws_ref, mel, gen=g(), lip_gain=1.0)[0])


def test_kl_is_non_negative_and_zero_when_posterior_equals_prior():
    g = torch.Generator().manual_seed(0)
    mu_q, ls_q = torch.randn(4, 5, generator=g), 0.3 * torch.randn(4, 5, generator=g)
    mu_p, ls_p = torch.randn(4, 5, generator=g), 0.3 * torch.randn(4, 5, generator=g)
    assert (kl_gaussian(mu_q, ls_q, mu_p, ls_p) >= 0).all()
    assert torch.allclose(kl_gaussian(mu_q, ls_q, mu_q, ls_q), torch.zeros(4), atol=1e-6)
    # the Monte Carlo estimator (the code path any prior uses) agrees with the analytic value on average
    m = reparameterise(mu_q.expand(20000, 4, 5), ls_q.expand(20000, 4, 5), g)
    mc = kl_monte_carlo(m, mu_q, ls_q, gaussian_log_prob(m, mu_p, ls_p)).mean(0)
    assert torch.allclose(mc, kl_gaussian(mu_q, ls_q, mu_p, ls_p), atol=0.05, rtol=0.05)


def test_seeded_noise_comes_from_the_generator_and_lands_on_the_tensor():
    """The training stages drive the model with a CPU generator wherever the model runs (session 23 trained the talker
    on a GPU): the noise is the generator's stream, shaped, typed and placed like its tensor."""
    like = torch.zeros(3, 4, 5, dtype=torch.float64)
    a = standard_normal(like, torch.Generator().manual_seed(7))
    assert a.shape == like.shape and a.dtype == torch.float64 and a.device == like.device
    assert torch.equal(a, torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64))
    assert not torch.equal(a, standard_normal(like, torch.Generator().manual_seed(8)))
    m = reparameterise(torch.ones(3, 4, 5), torch.zeros(3, 4, 5), torch.Generator().manual_seed(7))
    assert torch.equal(m, 1 + standard_normal(torch.zeros(3, 4, 5), torch.Generator().manual_seed(7)))


def test_elbo_kl_matches_the_analytic_kl_to_the_prior(cfg):
    torch.manual_seed(0)
    net = Talker(cfg)
    _randomise(net.posterior, 3)
    ws_ref, ws, mel = _inputs(cfg)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        terms = [net.elbo_terms(ws_ref, mel, ws, g) for _ in range(1)]
        mu, ls = terms[0]["mu"], terms[0]["log_sigma"]
        # with m fixed, the prior's Gaussian for each t is known: check log q - log p at that m
        m = terms[0]["m"]
        mu_p, ls_p = net.prior.distribution(m, terms[0]["a"], net.e_ref(ws_ref))
        expect = gaussian_log_prob(m, mu, ls) - gaussian_log_prob(m, mu_p, ls_p)
    assert torch.allclose(terms[0]["kl"], expect, atol=1e-4)


@pytest.mark.parametrize("prior,residual,step", [("gaussian", False, False), ("flow", False, False),
                                                 ("gaussian", True, False), ("flow", True, False),
                                                 ("gaussian", True, True), ("flow", True, True)])
def test_prior_sampling_is_seeded_and_chunked_sampling_carries_the_state(cfg, prior, residual, step):
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior=prior, prior_residual=residual, prior_step_input=step,
                                     prior_input_norm=step))
    _randomise(net.prior.cell, 4)
    _randomise(net.prior.head, 5)
    ws_ref, _, mel = _inputs(cfg)
    a, e = net.audio(mel), net.e_ref(ws_ref)
    m1, _ = net.prior.sample(a, e, gen=torch.Generator().manual_seed(7))
    m2, _ = net.prior.sample(a, e, gen=torch.Generator().manual_seed(7))
    assert torch.equal(m1, m2)
    # the same noise stream in two chunks with the state carried gives the unchunked result
    g = torch.Generator().manual_seed(7)
    c1, st = net.prior.sample(a[:, :2], e, gen=g)
    c2, _ = net.prior.sample(a[:, 2:], e, state=st, gen=g)
    assert torch.allclose(torch.cat([c1, c2], 1), m1, atol=1e-6)
    cold, _ = net.prior.sample(a, e, temperature=0.01, gen=torch.Generator().manual_seed(7))
    assert cold.std() < m1.std()
    with pytest.raises(ValueError):
        net.prior.sample(a, e, temperature=0.0)


def _style_elbo_parts(net, m, a, e, seed):
    """By hand, what a style prior's log_prob draws from the generator seeded ``seed``: q(c | m)'s (mu, log_sigma),
    c ~ q(c | m), and log p(m_t | m_<t, c, a, e_ref) [B, T]."""
    mu, log_sigma = net.prior.style_posterior(m)
    c = mu + log_sigma.exp() * torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))
    h = net.prior.contexts(m, a, e, c=c)
    x = m - net.prior.anchor(net.prior.previous(m))
    return mu, log_sigma, c, net.prior.conditional_log_prob(x.flatten(0, 1), h.flatten(0, 1)).view(m.shape[:2])


def test_a_style_latent_is_drawn_once_per_sample_and_fitted_as_a_vae(cfg):
    """A prior with a style latent c (session 27): c ~ N(0, I) is drawn once per sample and carried across chunks,
    the GRU reads it every frame, log_prob is the one-sample ELBO spread over the frames (free bits as a floor on
    each dimension's batch-mean KL), and a style prior started from a base without one (``base_prior_state``: zero
    columns for c) has the base's density wherever q(c | m) is N(0, I)."""
    from styletalker.talker.train_prior import base_prior_state
    torch.manual_seed(0)
    base_cfg = dataclasses.replace(cfg, prior="flow", prior_residual=True, prior_step_input=True, prior_input_norm=True)
    net = Talker(dataclasses.replace(base_cfg, prior_style=2))
    for i, part in enumerate((net.prior.cell, net.prior.head, net.prior.style_net)):
        _randomise(part, 4 + i)
    ws_ref, _, mel = _inputs(cfg)
    a, e = net.audio(mel), net.e_ref(ws_ref)
    with torch.no_grad():
        m1, st = net.prior.sample(a, e, gen=torch.Generator().manual_seed(7))
        g = torch.Generator().manual_seed(7)
        c1, st1 = net.prior.sample(a[:, :2], e, gen=g)
        c2, st2 = net.prior.sample(a[:, 2:], e, state=st1, gen=g)
        assert torch.allclose(torch.cat([c1, c2], 1), m1, atol=1e-6)
        assert st["c"].shape == (B, 2) and torch.equal(st1["c"], st2["c"]) and torch.equal(st["c"], st2["c"])
        # the GRU reads c: another style, the same noise, other motion
        other = dict(net.prior.init_state(B), c=st["c"] + 1.0)
        m3, _ = net.prior.sample(a, e, state=other, gen=torch.Generator().manual_seed(7))
        assert not torch.allclose(m3, m1, atol=1e-4)
        # log_prob: log p(m | c, a, e) at one c ~ q(c | m), minus KL(q || N(0, I)) / T
        m = m1
        lp = net.prior.log_prob(m, a, e, gen=torch.Generator().manual_seed(3))
        mu, log_sigma, c, cond = _style_elbo_parts(net, m, a, e, seed=3)
        kl = kl_gaussian(mu, log_sigma, torch.zeros_like(mu), torch.zeros_like(mu))
        assert torch.allclose(lp, cond - kl[:, None] / T, atol=1e-5)
        # a floor of 50 nats per dimension is above every batch-mean KL here: the KL counts as exactly 2 x 50
        floored = net.prior.log_prob(m, a, e, gen=torch.Generator().manual_seed(3), free_bits=50.0)
        assert torch.allclose(floored, cond - 100.0 / T, atol=1e-4)
    # started from a base without c, with q(c | m) = N(0, I) (KL 0): the base's density, whatever c is drawn
    base = Talker(base_cfg)
    for i, part in enumerate((base.prior.cell, base.prior.head)):
        _randomise(part, 8 + i)
    start = base_prior_state(base, net.cfg)
    assert start["cell.weight_ih"].shape == net.prior.cell.weight_ih.shape
    net.prior.load_state_dict(start, strict=False)
    with torch.no_grad():
        net.prior.style_net[-1].weight.zero_()
        net.prior.style_net[-1].bias.zero_()
        assert torch.allclose(net.prior.log_prob(m, a, e, gen=torch.Generator().manual_seed(5)),
                              base.prior.log_prob(m, a, e), atol=1e-5)
    with pytest.raises(ValueError, match="prior_input_norm"):
        Talker(dataclasses.replace(cfg, prior="flow", prior_style=2))


def test_a_fitted_style_mixture_is_what_c_is_drawn_from_and_the_kl_is_taken_against(cfg):
    """p(c) as a mixture (``prior_style_mix``): all-zero components are N(0, I) (the analytic KL); fitted ones are
    what draw_style samples from, and log_prob's KL is then log q(c | m) - log p(c) at the drawn c."""
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior="flow", prior_residual=True, prior_step_input=True,
                                     prior_input_norm=True, prior_style=2, prior_style_mix=3))
    for i, part in enumerate((net.prior.cell, net.prior.head, net.prior.style_net)):
        _randomise(part, 4 + i)
    ws_ref, _, mel = _inputs(cfg)
    a, e = net.audio(mel), net.e_ref(ws_ref)
    m = 0.1 * torch.randn(B, T, cfg.motion_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert net.prior.style_mixture() is None                                  # not fitted: N(0, I)
        plain = Talker(dataclasses.replace(net.cfg, prior_style_mix=0))
        plain.load_state_dict({k: v for k, v in net.state_dict().items() if "style_mu" not in k
                               and "style_log_sigma" not in k})
        assert torch.allclose(net.prior.log_prob(m, a, e, gen=torch.Generator().manual_seed(3)),
                              plain.prior.log_prob(m, a, e, gen=torch.Generator().manual_seed(3)), atol=1e-6)
        comps = torch.tensor([[5.0, 5.0], [-5.0, -5.0], [5.0, -5.0]])
        net.prior.style_mu.copy_(comps)
        net.prior.style_log_sigma.fill_(math.log(0.01))
        c = net.prior.draw_style(net.prior.init_state(64), torch.Generator().manual_seed(1))
        nearest = (c[:, None] - comps).norm(dim=-1).min(-1)
        assert nearest.values.max() < 0.1 and len(set(nearest.indices.tolist())) == 3
        lp = net.prior.log_prob(m, a, e, gen=torch.Generator().manual_seed(3))
        mu, log_sigma, c, cond = _style_elbo_parts(net, m, a, e, seed=3)
        log_p = torch.logsumexp(torch.stack([gaussian_log_prob(c, k, torch.full_like(k, math.log(0.01)))
                                             for k in comps], -1), -1) - math.log(3)
        kl = gaussian_log_prob(c, mu, log_sigma) - log_p
        assert torch.allclose(lp, cond - kl[:, None] / T, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("prior", ["gaussian", "flow"])
def test_noise_from_the_style_context_does_not_read_the_history(cfg, prior):
    """With ``prior_noise_context`` "style" (session 27) the mean reads h_t, but the scale and the flow read only
    a_t, e_ref and c: two samples with other histories, at the same frame, audio, identity, style and noise, differ by
    their means alone, and sampling in chunks still gives the unchunked result."""
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior=prior, prior_residual=True, prior_step_input=True,
                                     prior_input_norm=True, prior_style=2, prior_noise_context="style"))
    _randomise(net.prior, 4)
    ws_ref, _, mel = _inputs(cfg)
    a, e = net.audio(mel), net.e_ref(ws_ref)
    P, M = net.prior, cfg.motion_dim
    with torch.no_grad():
        c = torch.randn(B, 2, generator=torch.Generator().manual_seed(1))
        ctx = []
        for seed in (2, 3):                                           # two histories
            hist = torch.randn(B, T, M, generator=torch.Generator().manual_seed(seed))
            ctx.append(P.contexts(hist, a, e, c=c)[:, -1])
        assert not torch.allclose(ctx[0][:, :cfg.hidden], ctx[1][:, :cfg.hidden])
        assert torch.equal(ctx[0][:, cfg.hidden:], ctx[1][:, cfg.hidden:])
        (mu0, ls0), (mu1, ls1) = P.params(ctx[0]), P.params(ctx[1])
        assert torch.equal(ls0, ls1) and not torch.allclose(mu0, mu1)
        x0 = P.conditional_sample(ctx[0], 0.8, torch.Generator().manual_seed(5))
        x1 = P.conditional_sample(ctx[1], 0.8, torch.Generator().manual_seed(5))
        assert torch.allclose(x0 - mu0, x1 - mu1, atol=1e-5)
        m1, _ = P.sample(a, e, gen=torch.Generator().manual_seed(7))
        g = torch.Generator().manual_seed(7)
        c1, st = P.sample(a[:, :2], e, gen=g)
        c2, _ = P.sample(a[:, 2:], e, state=st, gen=g)
        assert torch.allclose(torch.cat([c1, c2], 1), m1, atol=1e-6)
    with pytest.raises(ValueError, match="prior_noise_context"):
        Talker(dataclasses.replace(cfg, prior="flow", prior_noise_context="audio"))
    # from a base whose noise reads h_t: the GRU is kept, the head and the flow start fresh, and the rest loads
    from styletalker.talker.train_prior import base_prior_state
    base = Talker(dataclasses.replace(net.cfg, prior_style=0, prior_style_mix=0, prior_noise_context="history"))
    start = base_prior_state(base, net.cfg)
    assert "cell.weight_hh" in start and not any(k.startswith(("head.", "flow.")) for k in start)
    missing, unexpected = Talker(net.cfg).prior.load_state_dict(start, strict=False)
    assert not unexpected and all(k.startswith(("head.", "scale_head.", "flow.", "style_net.")) for k in missing)
    # from a base whose GRU read other inputs as well: only the pull is kept
    raw = Talker(dataclasses.replace(base.cfg, prior_step_input=False, prior_input_norm=False))
    assert set(base_prior_state(raw, net.cfg)) == {"pull"}


def test_step_noise_reaches_only_the_last_step_and_only_in_training(cfg):
    """The prior stage's step noise (session 27) is added to the standardised last step the GRU reads, from the
    stage's generator, while the prior trains; in eval mode (sampling, held-out NLL) the input is exact."""
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior="flow", prior_residual=True, prior_step_input=True,
                                     prior_input_norm=True))
    M = cfg.motion_dim
    prev, prev2 = torch.randn(B, M), torch.randn(B, M)
    a, e = torch.randn(B, cfg.audio_dim), torch.randn(B, net.prior.ref_dim)
    exact = net.prior.eval().cell_input(prev, prev2, a, e)
    net.prior.step_noise, net.prior.noise_gen = 0.5, torch.Generator().manual_seed(1)
    assert torch.equal(net.prior.cell_input(prev, prev2, a, e), exact)                  # eval: no noise
    noisy = net.prior.train().cell_input(prev, prev2, a, e)
    assert torch.equal(noisy[:, :-M], exact[:, :-M])
    drawn = 0.5 * torch.randn(B, M, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(noisy[:, -M:] - exact[:, -M:], drawn, atol=1e-6)


@pytest.mark.parametrize("prior", ["gaussian", "flow"])
def test_a_residual_prior_models_the_step_from_its_anchor(cfg, prior):
    """log p(m_t | h_t) of a residual prior is its conditional density at m_t - b_t, b_t = (1 - k) m_(t-1) (a shift:
    no Jacobian); its Gaussian mean sits on b_t; without steps its samples relax to 0 geometrically."""
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior=prior, prior_residual=True))
    _randomise(net.prior, 4)
    ws_ref, _, mel = _inputs(cfg)
    a, e = net.audio(mel), net.e_ref(ws_ref)
    g = torch.Generator().manual_seed(1)
    m = torch.randn(B, T, cfg.motion_dim, generator=g)
    k = torch.sigmoid(net.prior.pull).detach()
    assert (k > 0).all() and (k < 1).all()
    with torch.no_grad():
        h = net.prior.contexts(m, a, e)
        prev = torch.cat([torch.zeros(B, 1, cfg.motion_dim), m[:, :-1]], 1)
        anchor = (1 - k) * prev
        expect = net.prior.conditional_log_prob((m - anchor).flatten(0, 1), h.flatten(0, 1)).view(B, T)
        assert torch.allclose(net.prior.log_prob(m, a, e), expect, atol=1e-5)
        # not the absolute prior's number: the same weights read m_t itself there
        absolute = Talker(dataclasses.replace(cfg, prior=prior)).prior
        absolute.load_state_dict(net.prior.state_dict(), strict=False)
        assert not torch.allclose(absolute.log_prob(m, a, e), expect, atol=1e-3)
        mu, _ = net.prior.distribution(m, a, e)
        assert torch.allclose(mu - anchor, net.prior.params(h)[0], atol=1e-6)
        # with the step head zeroed (and the flow the identity), a near-zero temperature leaves only the anchor:
        # m_t = (1 - k)^(t+1) m_start, a bounded relaxation, not a drift
        net.prior.head.weight[:cfg.motion_dim].zero_()
        net.prior.head.bias[:cfg.motion_dim].zero_()
        if prior == "flow":
            for p in net.prior.flow.parameters():
                p.zero_()                                # zuko's splines at zero parameters are the identity
        start = dict(h=torch.zeros(B, cfg.hidden), m=torch.full((B, cfg.motion_dim), 0.7))
        still, _ = net.prior.sample(a, e, temperature=1e-6, state=start, gen=g)
    decay = (1 - k) ** torch.arange(1, T + 1, dtype=torch.float32)[:, None]          # [T, M]
    assert torch.allclose(still, 0.7 * decay.expand(B, T, -1), atol=1e-4)


@pytest.mark.parametrize("prior", ["gaussian", "flow"])
def test_the_session_17_prior_reads_its_last_step_standardised_and_starts_fresh(cfg, prior):
    """With ``prior_step_input`` and ``prior_input_norm`` the GRU reads ([m_(t-1), a_t, e_ref, STEP_GAIN (m_(t-1) -
    m_(t-2))] - in_mean) / in_std; teacher forcing in two chunks with the state (h, m, m2) carried gives the one-pass
    contexts; a prior with other inputs than its base's keeps only the base's pull (``base_prior_state``)."""
    from styletalker.talker.prior import STEP_GAIN
    from styletalker.talker.train_prior import base_prior_state
    torch.manual_seed(0)
    base = Talker(dataclasses.replace(cfg, prior=prior, prior_residual=True))
    new = dataclasses.replace(cfg, prior=prior, prior_residual=True, prior_step_input=True, prior_input_norm=True)
    start = base_prior_state(base, new)
    assert "pull" in start and not any(k.startswith(("cell.", "head.")) for k in start)
    assert base_prior_state(base, base.cfg).keys() == base.prior.state_dict().keys()
    net = Talker(new)
    _randomise(net.prior, 4)
    n_in = net.prior.cell.weight_ih.shape[1]
    assert n_in == 2 * cfg.motion_dim + cfg.audio_dim + net.prior.ref_dim
    g = torch.Generator().manual_seed(2)
    net.prior.in_mean.copy_(torch.randn(n_in, generator=g))
    net.prior.in_std.copy_(torch.rand(n_in, generator=g) + 0.5)
    ws_ref, _, mel = _inputs(cfg)
    a, e = net.audio(mel), net.e_ref(ws_ref)
    m = torch.randn(B, T, cfg.motion_dim, generator=g)
    with torch.no_grad():
        h = net.prior.contexts(m, a, e)
        z = torch.zeros(B, 1, cfg.motion_dim)
        prev, prev2 = torch.cat([z, m[:, :-1]], 1), torch.cat([z, z, m[:, :-2]], 1)
        hh, manual = torch.zeros(B, cfg.hidden), []
        for t in range(T):
            raw = torch.cat([prev[:, t], a[:, t], e, STEP_GAIN * (prev[:, t] - prev2[:, t])], -1)
            hh = net.prior.cell((raw - net.prior.in_mean) / net.prior.in_std, hh)
            manual.append(hh)
        assert torch.allclose(h, torch.stack(manual, 1), atol=1e-5)
        k = 3
        rest = net.prior.contexts(m[:, k:], a[:, k:], e, dict(h=h[:, k - 1], m=m[:, k - 1], m2=m[:, k - 2]))
        assert torch.allclose(rest, h[:, k:], atol=1e-5)
        # m_(t-2) matters through the step: shifting it changes the contexts
        other = dict(h=h[:, k - 1], m=m[:, k - 1], m2=m[:, k - 2] + 0.5)
        assert not torch.allclose(net.prior.contexts(m[:, k:], a[:, k:], e, other), rest, atol=1e-4)


@pytest.mark.parametrize("prior", ["gaussian", "flow"])
def test_sampling_keeps_the_motion_in_the_box_the_training_statistics_set(cfg, prior):
    """With standardised inputs, sampled m_t stays within in_mean +- prior_box * in_std of m_(t-1) per dimension, also
    when the prior's own dynamics run away (here: a wide head, the pull at its start and a hot temperature); prior_box
    = 0 gives the unguarded sampler, and a prior without input statistics has no box (session 18)."""
    torch.manual_seed(0)
    base = dataclasses.replace(cfg, prior=prior, prior_residual=True, prior_step_input=True, prior_input_norm=True)
    ws_ref, _, mel = _inputs(cfg)
    runs = {}
    for box in (4.0, 0.0):
        net = Talker(dataclasses.replace(base, prior_box=box)).eval()
        _randomise(net.prior, 4)
        M = cfg.motion_dim
        net.prior.in_std[:M] = 0.05                                  # a narrow training range of m_t
        with torch.no_grad():
            a, e = net.audio(mel), net.e_ref(ws_ref)
            a = a.repeat(1, 20, 1)                                   # 20x the clip's frames
            runs[box], _ = net.prior.sample(a, e, 3.0, gen=torch.Generator().manual_seed(1))
        lo, hi = net.prior.in_mean[:M] - box * 0.05, net.prior.in_mean[:M] + box * 0.05
        if box:
            assert (runs[box] >= lo - 1e-6).all() and (runs[box] <= hi + 1e-6).all()
    assert (runs[0.0] - net.prior.in_mean[:M]).abs().max() > 4.0 * 0.05    # unguarded, the walk leaves the box
    assert Talker(dataclasses.replace(base, prior_input_norm=False)).prior.motion_box() is None


def test_fit_prior_inputs_standardises_what_the_gru_reads(cfg, small_dataset):
    """After :func:`fit_prior_inputs` the GRU's teacher-forced inputs on the same windows have mean 0 and std 1 per
    feature (where a feature varies at all), whatever the raw scales (here e_ref is blown up 100x)."""
    import numpy as np
    from styletalker.data.dataset import ClipWindows
    from styletalker.talker.train import fit_prior_inputs, sample_windows, talker_train_config, window_starts
    windows = ClipWindows(small_dataset, "train", window=8)
    n = int(windows.offsets[-1])
    g = torch.Generator().manual_seed(0)
    codes = (torch.randn(n, cfg.num_ws, cfg.w_dim, generator=g).cumsum(0) * 0.05).numpy().astype(np.float16)
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior="flow", prior_residual=True, prior_target="mean",
                                     prior_step_input=True, prior_input_norm=True))
    _randomise(net.posterior, 3)
    with torch.no_grad():
        net.ref[0].weight.mul_(100)
    tcfg = talker_train_config("quick", batch=8, window=8)
    fit_prior_inputs(net, windows, codes, tcfg, batches=4, seed=5)
    gen, starts, xs = torch.Generator().manual_seed(5), window_starts(windows, tcfg.window), []
    with torch.no_grad():
        for _ in range(4):                                                    # the same windows again
            b = sample_windows(windows, codes, starts, tcfg, gen, with_frames=False)
            m = net.posterior(b["codes"], b["ref"])[0]
            xs.append(net.prior.teacher_inputs(m, net.audio(b["mel"]), net.e_ref(b["ref"])).flatten(0, 1))
    x = torch.cat(xs)
    varies = net.prior.in_std > 1e-4
    assert varies.float().mean() > 0.9
    assert torch.allclose(x.mean(0)[varies], torch.zeros(int(varies.sum())), atol=1e-3)
    assert torch.allclose(x.std(0)[varies], torch.ones(int(varies.sum())), atol=1e-3)


def test_a_mean_target_prior_is_fitted_to_the_posterior_mean(cfg):
    torch.manual_seed(0)
    ws_ref, ws, mel = _inputs(cfg)
    nets = {t: Talker(dataclasses.replace(cfg, prior_target=t)) for t in ("sample", "mean")}
    nets["mean"].load_state_dict(nets["sample"].state_dict())
    _randomise(nets["mean"].posterior, 3)
    nets["sample"].load_state_dict(nets["mean"].state_dict())
    with torch.no_grad():
        mu, _ = nets["mean"].posterior(ws, ws_ref)
        expect = nets["mean"].prior.log_prob(mu, nets["mean"].audio(mel), nets["mean"].e_ref(ws_ref))
        lp = [nets["mean"].motion_log_prob(ws_ref, mel, ws, torch.Generator().manual_seed(k)) for k in (0, 1)]
        noisy = nets["sample"].motion_log_prob(ws_ref, mel, ws, torch.Generator().manual_seed(0))
    assert torch.allclose(lp[0], expect) and torch.equal(lp[0], lp[1])     # no draw: the same for any generator
    assert not torch.allclose(noisy, expect)
    with pytest.raises(ValueError, match="prior_target"):
        Talker(dataclasses.replace(cfg, prior_target="median"))


def _flow_prior(cfg, seed=0):
    from styletalker.talker.prior import FlowARPrior
    torch.manual_seed(seed)
    prior = FlowARPrior(dataclasses.replace(cfg, prior="flow"))
    _randomise(prior, seed + 1)                       # a far-from-identity flow
    return prior


def test_flow_prior_inverts_and_its_log_density_is_the_change_of_variables(cfg):
    prior = _flow_prior(cfg).double()
    g = torch.Generator().manual_seed(0)
    h = torch.randn(4, cfg.hidden, generator=g, dtype=torch.float64)
    m = torch.randn(4, cfg.motion_dim, generator=g, dtype=torch.float64)
    t = prior.flow(h).transform
    assert torch.allclose(t.inv(t(m)), m, atol=1e-8)
    # log p(m | h) = log N(z(m); 0, I) + log|det dz/dm|, the Jacobian taken by autograd, point by point
    mu, log_sigma = prior.params(h)
    logp = prior.conditional_log_prob(m, h)
    for i in range(4):
        z_of = lambda x: prior.flow(h[i:i + 1]).transform((x - mu[i]) / log_sigma[i].exp())[0]   # noqa: E731
        J = torch.autograd.functional.jacobian(z_of, m[i:i + 1])[:, 0]
        z = z_of(m[i:i + 1])
        expected = (-0.5 * z ** 2 - 0.5 * torch.log(torch.tensor(2 * torch.pi, dtype=z.dtype))).sum() \
            + torch.linalg.slogdet(J)[1]
        assert torch.allclose(logp[i], expected, atol=1e-8), (logp[i], expected)
    # the flow's samples are draws of that density: the mean log-density of its own samples beats a shifted copy's
    samples = torch.stack([prior.conditional_sample(h, 1.0, g) for _ in range(200)])      # [200, 4, M]
    lp = prior.conditional_log_prob(samples.flatten(0, 1), h.repeat(200, 1))
    assert lp.mean() > prior.conditional_log_prob(samples.flatten(0, 1) + 1.0, h.repeat(200, 1)).mean()


def test_flow_prior_skips_zukos_broadcasting_with_the_same_numbers(cfg):
    """The prior's coupling and spline subclasses (which spare ``generate`` the sympy import that
    ``torch.broadcast_shapes`` triggers) compute what zuko's own classes compute from the same weights."""
    import subprocess
    import sys

    from zuko.flows import Flow, GeneralCouplingTransform
    from zuko.transforms import MonotonicRQSTransform
    prior = _flow_prior(cfg).double()
    plain = Flow([GeneralCouplingTransform(cfg.motion_dim, cfg.hidden, mask=layer.mask,
                                           univariate=MonotonicRQSTransform, shapes=layer.shapes,
                                           hidden_features=[cfg.hidden, cfg.hidden])
                  for layer in prior.flow.transform.transforms], prior.flow.base).double()
    plain.load_state_dict(prior.flow.state_dict())
    g = torch.Generator().manual_seed(3)
    h = torch.randn(6, cfg.hidden, generator=g, dtype=torch.float64)
    m = 4 * torch.randn(6, cfg.motion_dim, generator=g, dtype=torch.float64)     # some beyond the splines' [-5, 5]
    ours, zukos = prior.flow(h).transform, plain(h).transform
    assert torch.equal(ours(m), zukos(m)) and torch.equal(ours.inv(m), zukos.inv(m))
    assert torch.equal(ours.call_and_ladj(m)[1], zukos.call_and_ladj(m)[1])
    assert torch.equal(prior.flow(h).log_prob(m), plain(h).log_prob(m))
    # a context without the batch dimension goes through zuko's own broadcasting, to the same result
    assert torch.allclose(prior.flow(h[0]).transform(m), plain(h[0]).transform(m))
    code = ("import sys, dataclasses, torch; from styletalker.talker.modules import talker_config; "
            "from styletalker.talker.prior import FlowARPrior; cfg = dataclasses.replace(talker_config('quick'), "
            "prior='flow'); p = FlowARPrior(cfg); h = torch.randn(2, cfg.hidden); "
            "p.conditional_log_prob(p.conditional_sample(h, 1.0, None), h); print('sympy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_flow_prior_fits_a_bimodal_motion_better_than_the_gaussian(cfg):
    """The reason for the flow: m_t = +-1 (two speaking styles) for the same context; the Gaussian can only spread
    over both, the flow puts its mass on the two modes."""
    from styletalker.talker.prior import GaussianARPrior
    g = torch.Generator().manual_seed(0)
    c = dataclasses.replace(cfg, prior="flow", motion_dim=2)
    a, e = torch.zeros(64, 4, cfg.audio_dim), torch.zeros(64, cfg.hidden)
    signs = torch.randint(0, 2, (64, 1, 1), generator=g).float() * 2 - 1
    m = signs.expand(64, 4, 2) + 0.05 * torch.randn(64, 4, 2, generator=g)
    nll = {}
    for name, prior in (("gaussian", GaussianARPrior(c)), ("flow", _flow_prior(c))):
        if name == "flow":
            for p in prior.parameters():
                torch.nn.init.normal_(p, std=0.01)
        opt = torch.optim.Adam(prior.parameters(), lr=1e-2)
        for _ in range(300):
            loss = -prior.log_prob(m, a, e).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        nll[name] = loss.item()
    assert nll["flow"] < nll["gaussian"] - 1.0, nll


def test_elbo_runs_through_the_flow_prior_with_gradients(cfg):
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior="flow"))
    ws_ref, ws, mel = _inputs(cfg)
    out = net.elbo_terms(ws_ref, mel, ws, torch.Generator().manual_seed(0))
    out["kl"].mean().backward()
    assert out["kl"].shape == (B, T) and torch.isfinite(out["kl"]).all()
    assert all(p.grad is not None for p in net.prior.flow.parameters())


@pytest.mark.parametrize("reset", [False, True])
def test_checkpoint_roundtrip(cfg, tmp_path, reset):
    cfg = dataclasses.replace(cfg, reset_mouth=reset)
    torch.manual_seed(0)
    net = Talker(cfg)
    _randomise(net, 5)
    if reset:                                                        # the mouth reset's buffers travel too
        net.manipulation.mouth_basis.copy_(torch.linalg.qr(torch.randn(cfg.num_ws * cfg.w_dim, 1))[0])
        net.manipulation.mouth_centre.fill_(0.7)
    save_model(tmp_path / "talker", net, cfg, kind="talker")
    back = load_model(tmp_path / "talker", Talker, TalkerConfig, kind="talker")
    ws_ref, ws, mel = _inputs(cfg)
    assert torch.equal(net.reenact(ws_ref, mel, ws), back.reenact(ws_ref, mel, ws))
    with pytest.raises(StyletalkerError, match="audio_layers"):
        load_model(tmp_path / "talker", Talker, TalkerConfig, kind="talker",
                   expected=dataclasses.replace(cfg, audio_layers=(1, 2)))


def _probe_code_loss(net, batch) -> float:
    """The code term of the ELBO on a fixed batch, with m_t drawn from a fixed generator; leaves ``net`` in train
    mode."""
    net.eval()
    with torch.no_grad():
        out = net.elbo_terms(batch["ref"], batch["mel"], batch["codes"], torch.Generator().manual_seed(2),
                             torch.ones(len(batch["ref"])))
    net.train()
    return (out["ws_hat"] - batch["codes"]).pow(2).mean().item()


def _motion_codes(windows, G) -> np.ndarray:
    """Codes [N, K, D] that move with the world's own motion, at a trained encoder's unit scale: a fixed random linear
    map of each frame's pose, mouth and eyes (what the training tests learn from instead of a random encoder's)."""
    labels = np.concatenate([windows.labels["pose"][:, :3] / 10, windows.labels["mouth"],
                             windows.labels["eye_open"]], 1)                                   # [N, 9]
    mix = np.random.default_rng(0).normal(0, 0.3, (labels.shape[1], G.num_ws * G.cfg.w_dim))
    return (labels @ mix).reshape(len(labels), G.num_ws, G.cfg.w_dim).astype(np.float32)


def test_training_lowers_the_loss_with_and_without_the_sync_loss(cfg, small_dataset, tmp_path):
    from styletalker.data.dataset import ClipWindows
    from styletalker.gan.generator import Generator, generator_config
    from styletalker.inversion.encoder import Encoder, for_generator
    from styletalker.sync.model import DSync, sync_config
    from styletalker.talker.train import TalkerStage, code_bank, sample_windows, talker_train_config
    from styletalker.training import read_log, train
    torch.manual_seed(0)
    G = Generator(generator_config("quick")).eval()
    E = Encoder(for_generator(G), G.w_avg).eval()
    _randomise(E, 6)
    windows = ClipWindows(small_dataset, "train", window=8)
    codes = code_bank(E, windows, tmp_path, progress=False)
    assert codes.shape == (int(windows.offsets[-1]), G.num_ws, G.cfg.w_dim)
    E2 = Encoder(for_generator(G), G.w_avg).eval()
    _randomise(E2, 7)
    assert not np.array_equal(code_bank(E2, windows, tmp_path, progress=False), codes)   # the cache knows its encoder
    assert np.array_equal(code_bank(E, windows, tmp_path, progress=False), codes)
    # A random encoder's codes sit in the hundreds and are nearly the same for every frame, so there is nothing to
    # learn from them. Train on codes that move with the world's own motion instead (_motion_codes).
    codes = _motion_codes(windows, G)
    for use_sync in (True, False):
        # audio_mouth=0: the warm-up on the code and KL terms alone (the audio-mouth term, the default since session
        # 18, has its own test below)
        tcfg = talker_train_config("quick", steps=50, batch=2, window=8, use_sync=use_sync, lr=3e-3, warmup=40,
                                   audio_only=0, audio_mouth=0.0, render_lr=1e-3)
        net = Talker(cfg)
        stage = TalkerStage(net, G, windows, codes, tcfg, dsync=DSync(sync_config("quick")) if use_sync else None)
        # The code loss on one fixed batch of 16 windows falls over the warm-up (code and KL terms only). The logged
        # losses are of 2 random windows each, too few to compare.
        probe = sample_windows(windows, codes, stage.starts, dataclasses.replace(tcfg, batch=16),
                               torch.Generator().manual_seed(1), with_frames=False)
        before = _probe_code_loss(net, probe)
        run = tmp_path / f"run{use_sync}"
        train(stage, tcfg.warmup, run, log_every=5, progress=False)
        assert _probe_code_loss(net, probe) < 0.8 * before   # 0.56-0.67 of it on world revisions 1 and 2
        assert stage.opt.param_groups[0]["lr"] == 3e-3
        train(stage, tcfg.steps, run, log_every=5, progress=False)   # resumes at the warm-up's end
        assert stage.opt.param_groups[0]["lr"] == 1e-3              # render_lr once rendering starts
        rows = read_log(run)
        assert [r["step"] for r in rows] == list(range(5, tcfg.steps + 1, 5))
        assert "l1" not in rows[0] and "l1" in rows[-1]           # rendering starts after the warm-up
        assert ("sync" in rows[-1]) == use_sync
        assert all(np.isfinite(v) for r in rows for v in r.values())
        assert not any(p.requires_grad for p in G.parameters())
    # the audio-only phase: m_t = 0 and no KL, so the posterior and the motion path receive no gradient
    tcfg = talker_train_config("quick", steps=3, batch=2, window=8, use_sync=False, warmup=3, audio_only=3)
    net = Talker(cfg)
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    stage = TalkerStage(net, G, windows, codes, tcfg)
    for i in range(3):
        stage.step(i)
    after = dict(net.named_parameters())
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("posterior.", "manipulation.motion.")))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("audio."))
    # the mouth reset takes its directions (the posterior's) and its closed mouth from the training data
    from styletalker.talker.train import mouth_centre
    net = Talker(dataclasses.replace(cfg, reset_mouth=True))
    TalkerStage(net, G, windows, codes, tcfg)
    U = net.posterior.mouth_basis
    assert U.abs().max() > 0 and torch.equal(net.manipulation.mouth_basis, U)
    assert torch.equal(net.manipulation.mouth_centre, mouth_centre(codes, U, windows.labels["landmarks"]))


def test_the_audio_mouth_term_trains_the_lips_of_the_audio_path_alone(cfg, small_dataset):
    """The audio-mouth term (session 18) is the code error along the mouth directions U of the audio path's output with
    m_t = 0: on its own it moves the audio encoder and the audio offset path, never the posterior, the motion path or
    the prior, and it lowers that error."""
    from styletalker.data.dataset import ClipWindows
    from styletalker.gan.generator import Generator, generator_config
    from styletalker.talker.train import TalkerStage, sample_windows, talker_train_config
    torch.manual_seed(0)
    G = Generator(generator_config("quick")).eval()
    windows = ClipWindows(small_dataset, "train", window=8)
    codes = _motion_codes(windows, G)
    tcfg = talker_train_config("quick", steps=40, batch=4, window=8, use_sync=False, warmup=40, audio_only=0,
                               motion_drop=0.0, code=0.0, kl=0.0, audio_mouth=1.0, lr=3e-3)
    net = Talker(cfg)
    stage = TalkerStage(net, G, windows, codes, tcfg)
    U, var = stage.mouth
    probe = sample_windows(windows, codes, stage.starts, dataclasses.replace(tcfg, batch=16),
                           torch.Generator().manual_seed(1), with_frames=False)

    def error() -> float:
        with torch.no_grad():
            a = net.audio(probe["mel"])
            ws = net.manipulation(probe["ref"], a, a.new_zeros(*a.shape[:2], cfg.motion_dim))
            return (((ws - probe["codes"]).flatten(2) @ U).pow(2) / var).mean().item()

    before_err = error()
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    for i in range(tcfg.steps):
        assert "audio_mouth" in stage.step(i)
    after = dict(net.named_parameters())
    frozen = ("posterior.", "manipulation.motion.", "prior.", "ref.")
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(frozen))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("manipulation.audio."))
    assert error() < 0.9 * before_err                        # 0.55 of it when written


def test_pose_signal_reads_the_head_from_landmarks_where_there_is_no_pose_label():
    """Real clips have landmarks but no pose labels: the proxies read roll as the eye line's angle (a rotation of the
    landmarks by 10 degrees adds 10 degrees), yaw as the nose's sideways offset, pitch as its offset across the eye
    line; the world's clips use their pose labels."""
    from styletalker.talker.train import pose_signal
    lm = np.zeros((1, 68, 2))
    lm[0, 36:42] = (20, 30)                                        # the subject's right eye
    lm[0, 42:48] = (44, 30)
    lm[0, 36], lm[0, 45] = (16, 30), (48, 30)                       # outer corners: inter-ocular distance 32
    lm[0, 30] = (32, 42)                                            # nose tip under the eyes' midpoint
    lm[0, 0], lm[0, 16] = (8, 30), (56, 30)                           # the face outline's ends
    base = pose_signal({"landmarks": lm})[0]
    assert np.allclose(base, [0, 12 / 32, 0], atol=1e-6)
    turned = lm.copy()
    turned[0, 30, 0] += 4
    assert np.isclose(pose_signal({"landmarks": turned})[0, 0], 4 / 32, atol=1e-6)
    a = np.radians(10)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    rolled = (lm - 32) @ rot.T + 32
    assert np.allclose(pose_signal({"landmarks": rolled})[0], base + [0, 0, 10], atol=1e-4)
    labelled = {"landmarks": lm, "pose": np.arange(6, dtype=np.float32)[None]}
    assert pose_signal(labelled).tolist() == [[0, 1, 2]]


def test_the_pose_term_teaches_the_motion_path_the_head_pose(cfg, small_dataset):
    """The pose term (session 21): the code error along the W+ directions that move with yaw, pitch and roll, on the
    windows whose m_t is kept. Alone it lowers that error, and it gives windows with m_t = 0 no weight."""
    from styletalker.data.dataset import ClipWindows
    from styletalker.gan.generator import Generator, generator_config
    from styletalker.talker.train import TalkerStage, sample_windows, talker_train_config
    torch.manual_seed(0)
    G = Generator(generator_config("quick")).eval()
    windows = ClipWindows(small_dataset, "train", window=8)
    codes = _motion_codes(windows, G)
    tcfg = talker_train_config("quick", steps=40, batch=4, window=8, use_sync=False, warmup=40, audio_only=0,
                               motion_drop=0.0, code=0.0, kl=0.0, audio_mouth=0.0, pose=1.0, lr=3e-3)
    net = Talker(cfg)
    stage = TalkerStage(net, G, windows, codes, tcfg)
    U, var = stage.pose
    assert U.shape == (cfg.num_ws * cfg.w_dim, 3) and torch.allclose(U.T @ U, torch.eye(3), atol=1e-5)
    probe = sample_windows(windows, codes, stage.starts, dataclasses.replace(tcfg, batch=16),
                           torch.Generator().manual_seed(1), with_frames=False)

    def error() -> float:
        with torch.no_grad():
            out = net.elbo_terms(probe["ref"], probe["mel"], probe["codes"], torch.Generator().manual_seed(2),
                                 torch.ones(16))
            return stage.direction_error(stage.pose, out["ws_hat"], probe["codes"]).mean().item()

    before = error()
    for i in range(tcfg.steps):
        assert "pose" in stage.step(i)
    assert error() < 0.7 * before
    dropped = TalkerStage(Talker(cfg), G, windows, codes, dataclasses.replace(tcfg, motion_drop=1.0))
    assert dropped.step(0)["pose"] == 0.0                           # every window's m_t zeroed: no pose term


def test_train_talker_with_one_seed_gives_one_talker(small_dataset, tmp_path):
    """The same command gives the same weights, whatever ran before it in the process (the talker's initial weights
    come from the training seed, not from torch's global state); another seed gives another talker."""
    from safetensors.torch import load_file

    from styletalker.cli import main as cli_main
    from styletalker.gan.generator import Generator, generator_config
    from styletalker.inversion.encoder import Encoder, for_generator
    torch.manual_seed(0)
    G = Generator(generator_config("quick")).eval()
    E = Encoder(for_generator(G), G.w_avg)
    save_model(tmp_path / "g", G, G.cfg, kind="generator")
    save_model(tmp_path / "e", E, E.cfg, kind="encoder")

    def run(name: str, seed: int) -> dict:
        torch.rand(int(torch.randint(1, 100, [1])))                     # move the global RNG between runs
        assert cli_main(["train", "talker", "--profile", "quick", "--data", str(small_dataset), "--generator",
                         str(tmp_path / "g"), "--encoder", str(tmp_path / "e"), "--no-sync", "--steps", "3",
                         "--seed", str(seed), "--out", str(tmp_path / name), "--quiet"]) == 0
        return load_file(tmp_path / name / "talker_quick_nosync.safetensors")

    a, b, c = run("a", 0), run("b", 0), run("c", 1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_ping_pong_plays_the_motion_back_and_forth():
    from styletalker.talker.generate import ping_pong
    assert ping_pong(4, 10).tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert ping_pong(1, 3).tolist() == [0, 0, 0] and ping_pong(5, 3).tolist() == [0, 1, 2]


def test_audio_windows_refuse_silence_and_count_frames():
    import numpy as np
    from styletalker.talker.generate import audio_windows
    with pytest.raises(StyletalkerError, match="silent"):
        audio_windows(np.zeros(16000, np.float32))
    with pytest.raises(StyletalkerError, match="empty"):
        audio_windows(np.zeros(0, np.float32))
    mel = audio_windows(np.random.default_rng(0).normal(0, 0.1, 16000 + 100).astype(np.float32))
    assert mel.shape == (26, 80, 20)                                 # ceil(1.006 s * 25)


shipped_ge = pytest.mark.skipif(not all((__import__("styletalker.gan.weights", fromlist=["x"]).WEIGHTS_DIR / n)
                                        .exists() for n in ("generator_default.safetensors",
                                                            "encoder_default.safetensors")),
                                reason="needs the shipped generator and encoder")


@shipped_ge
def test_chunked_and_unchunked_generation_agree_and_seeds_reproduce():
    import numpy as np
    from styletalker.paths import DATA_DIR
    from styletalker.talker.generate import generate
    torch.manual_seed(0)
    net = Talker(talker_config("default")).eval()
    _randomise(net.prior, 8)
    audio = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    img = DATA_DIR / "samples" / "portrait_0.png"
    a, _ = generate(img, audio, talker=net, chunk=7, seed=3)
    b, _ = generate(img, audio, talker=net, chunk=1000, seed=3)
    c, _ = generate(img, audio, talker=net, chunk=1000, seed=4)
    assert a.shape == (25, 64, 64, 3) and np.abs(a.astype(int) - b).max() <= 1
    assert np.abs(c.astype(int) - b).max() > 1                        # another seed, another motion


@shipped_ge
def test_generation_defaults_to_the_talkers_recorded_temperature(tmp_path):
    """A talker saved with a calibrated ``temperature`` in its metadata samples at it when none is given (the same
    video as passing it), other temperatures give other motion, and one without it samples at 1."""
    import numpy as np
    from styletalker.paths import DATA_DIR
    from styletalker.talker.generate import generate, load_talker, recorded_temperature
    torch.manual_seed(0)
    cfg = talker_config("default")
    net = Talker(cfg).eval()
    _randomise(net.prior, 8)
    save_model(tmp_path / "plain", net, cfg, kind="talker")
    save_model(tmp_path / "calibrated", net, cfg, kind="talker", meta=dict(temperature=0.5))
    assert recorded_temperature(tmp_path / "plain") == 1.0 and recorded_temperature(tmp_path / "calibrated") == 0.5
    plain, calibrated = load_talker(tmp_path / "plain"), load_talker(tmp_path / "calibrated")
    assert (plain.default_temperature, calibrated.default_temperature) == (1.0, 0.5)
    audio = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    img = DATA_DIR / "samples" / "portrait_0.png"
    default, _ = generate(img, audio, talker=calibrated, seed=3)
    explicit, _ = generate(img, audio, talker=calibrated, seed=3, temperature=0.5)
    hot, _ = generate(img, audio, talker=calibrated, seed=3, temperature=1.0)
    one, _ = generate(img, audio, talker=plain, seed=3)
    assert np.abs(default.astype(int) - explicit).max() <= 1
    assert np.abs(hot.astype(int) - default).max() > 1 and np.abs(hot.astype(int) - one).max() <= 1


@shipped_ge
def test_generation_defaults_to_the_talkers_recorded_lip_gain(tmp_path):
    """A talker saved with a calibrated ``lip_gain`` in its metadata draws its lips with it in both modes when none is
    given (the same video as passing it); another gain gives other lips."""
    import numpy as np
    from PIL import Image
    from styletalker.paths import DATA_DIR
    from styletalker.talker.generate import generate, load_talker
    torch.manual_seed(0)
    cfg = talker_config("default")
    net = Talker(cfg).eval()
    _randomise(net.manipulation.audio, 4)                               # an audio path that moves the code
    save_model(tmp_path / "t", net, cfg, kind="talker", meta=dict(lip_gain=2.0))
    calibrated = load_talker(tmp_path / "t")
    assert calibrated.default_lip_gain == 2.0
    audio = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    img = DATA_DIR / "samples" / "portrait_0.png"
    crops = np.stack([np.asarray(Image.open(img).convert("RGB").resize((64, 64)))] * 10)   # a still motion video
    for motion, still in ((None, True), (crops, False)):
        default, _ = generate(img, audio, motion, talker=calibrated, still=still)
        explicit, _ = generate(img, audio, motion, talker=calibrated, still=still, lip_gain=2.0)
        one, _ = generate(img, audio, motion, talker=calibrated, still=still, lip_gain=1.0)
        assert np.abs(default.astype(int) - explicit).max() <= 1 and np.abs(one.astype(int) - default).max() > 1


def _benchmark(name: str):
    """A script of benchmarks/ imported as a module (they import each other by name, so the folder joins sys.path
    for the import)."""
    import importlib
    import sys
    from styletalker.paths import REPO_DIR
    sys.path.insert(0, str(REPO_DIR / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO_DIR / "benchmarks"))


def test_calibrated_temperature_is_recorded_in_the_talkers_json(cfg, tmp_path):
    """benchmarks/calibrate_temperature.py --write: the chosen temperature and its table go into the metadata, the
    rest of the JSON is kept, and the talker still loads."""
    from styletalker.checkpoint import read_model_info
    from styletalker.talker.generate import load_talker
    record = _benchmark("calibrate_temperature").record
    net = Talker(cfg)
    save_model(tmp_path / "t", net, cfg, kind="talker", meta=dict(steps=7))
    record(tmp_path / "t", dict(chosen=0.7, truth_entropy=1.0, table=[dict(temperature=0.7, entropy=0.9)]))
    meta = read_model_info(tmp_path / "t")["meta"]
    assert meta["temperature"] == 0.7 and meta["steps"] == 7 and meta["temperature_calibration"]["truth_entropy"] == 1
    assert load_talker(tmp_path / "t").default_temperature == 0.7
    assert not list(tmp_path.glob("*.tmp"))


def test_the_steps_rule_picks_a_temperature_that_walks_like_the_posterior_or_none():
    """calibrate_temperature's rule ``steps``: the entropy rule's pick is refused when its walk speeds up over time;
    of the temperatures with varied styles, a stable spread and steps within 30 % of the posterior's, the closest
    walk wins; bands past the clips' length are compared with the posterior's last band (in frame order, whatever the
    profile's key order); no such temperature: None."""
    bench = _benchmark("calibrate_temperature")

    def row(T, h, prior_steps, first=0.3, last=0.3):
        post = (0.14, 0.14, 0.15, None, None, None)
        bands = ("1-32", "32-64", "64-128", "128-256", "256-512", "512-960")
        r = dict(temperature=T, entropy=h, long_spread_first=first, long_spread_last=last,
                 step_profile={b: (p, q) for b, p, q in sorted(zip(bands, prior_steps, post))})  # as JSON keeps it
        return {**r, **bench.step_checks(r)}

    fast = row(0.85, 0.93, (0.14, 0.15, 0.20, 0.30, 0.30, 0.30), 0.3, 0.45)  # the entropy rule's pick, speeds up
    slow = row(0.6, 0.99, (0.09, 0.09, 0.10, 0.11, 0.12, 0.12))           # 36 % under at frames 32-64
    near = row(0.7, 0.86, (0.13, 0.13, 0.12, 0.13, 0.14, 0.16))
    nearer = row(0.75, 0.70, (0.14, 0.14, 0.15, 0.15, 0.15, 0.15))        # walks best, styles too uniform
    assert fast["spread_change"] == pytest.approx(0.5) and slow["band_deviations"][0] == pytest.approx(0.09 / 0.14 - 1)
    assert len(near["band_deviations"]) == 5 and near["band_deviations"][-1] == pytest.approx(0.16 / 0.15 - 1)
    rows, h = [slow, near, nearer, fast], 0.934
    assert bench.choose(rows, h, "entropy") == 0.85
    assert bench.choose(rows, h, "steps") == 0.7
    assert bench.choose([slow, fast, nearer], h, "steps") is None
    with pytest.raises(ValueError, match="unknown rule"):
        bench.choose(rows, h, "fastest")


def test_style_steps_sets_the_priors_per_clip_speeds_beside_each_true_styles():
    """motion_smoothness --by-style: percentiles per true style and for the prior's samples, and the share of samples
    no faster than the still clips' 90th percentile."""
    q = _benchmark("motion_smoothness").style_steps
    still, nodding = list(np.linspace(0.05, 0.10, 11)), [0.2, 0.25]
    out = q({"still": still, "nodding": nodding}, [0.06, 0.12, 0.2, 0.3])
    assert out["posterior_still"][0] == 11 and out["posterior_still"][2] == pytest.approx(0.075)
    assert out["posterior_still"][3] == pytest.approx(0.095) and out["prior"][0] == 4
    assert out["prior_share_as_slow_as_still"] == 0.25 and set(out) == {"posterior_nodding", "posterior_still", "prior",
                                                                          "prior_share_as_slow_as_still"}
    assert "prior_share_as_slow_as_still" not in q({"nodding": nodding}, [0.1])


def test_calibrated_lip_gain_is_recorded_in_the_talkers_json(cfg, tmp_path):
    """benchmarks/calibrate_lip_gain.py --write: the chosen gain and its table go into the metadata beside what is
    there, and load_talker gives it as the default (1 without it)."""
    from styletalker.checkpoint import read_model_info
    from styletalker.talker.generate import load_talker, recorded_lip_gain
    bench = _benchmark("calibrate_lip_gain")
    amplitude, record = bench.amplitude, bench.record
    net = Talker(cfg)
    save_model(tmp_path / "t", net, cfg, kind="talker", meta=dict(temperature=0.8))
    assert recorded_lip_gain(tmp_path / "t") == 1.0 and load_talker(tmp_path / "t").default_lip_gain == 1.0
    record(tmp_path / "t", dict(chosen=1.4, clips=2, table=[dict(lip_gain=1.4, ratio=0.98)]))
    meta = read_model_info(tmp_path / "t")["meta"]
    assert meta["lip_gain"] == 1.4 and meta["temperature"] == 0.8 and meta["lip_gain_calibration"]["clips"] == 2
    assert load_talker(tmp_path / "t").default_lip_gain == 1.4 and not list(tmp_path.glob("*.tmp"))
    # the amplitude measure: half as wide (plus a clip offset, which it ignores) reads 0.5, slope 0.5, r 1
    t = [np.sin(np.arange(50) / 3.0), np.cos(np.arange(40) / 2.0)]
    amp = amplitude([0.5 * x + 7 for x in t], t)
    assert amp["ratio"] == pytest.approx(0.5) and amp["slope"] == pytest.approx(0.5) and amp["r"] == pytest.approx(1)


@shipped_ge
def test_generate_command_writes_an_mp4_with_sound_and_refuses_bad_input(tmp_path):
    import subprocess
    import sys

    import numpy as np
    from styletalker.audio import save_wav
    from styletalker.paths import DATA_DIR
    from styletalker.videoio import read_video, read_video_audio
    torch.manual_seed(0)
    net = Talker(talker_config("default"))
    save_model(tmp_path / "talker", net, net.cfg, kind="talker")
    img = str(DATA_DIR / "samples" / "portrait_0.png")
    wav = str(DATA_DIR / "samples" / "hello.wav")
    silent = tmp_path / "silent.wav"
    save_wav(silent, np.zeros(8000, np.float32))
    run = lambda *a: subprocess.run([sys.executable, "-m", "styletalker", "generate", *a, "--talker",  # noqa: E731
                                     str(tmp_path / "talker")], capture_output=True, text=True)
    r = run("--image", img, "--audio", wav, "-o", str(tmp_path / "v.mp4"), "--still")
    assert r.returncode == 0, r.stderr
    frames, fps = read_video(tmp_path / "v.mp4")
    assert frames.shape[1:] == (64, 64, 3) and fps == 25 and read_video_audio(tmp_path / "v.mp4") is not None
    cases = [(["--image", str(tmp_path / "none.png"), "--audio", wav], "does not exist"),
             (["--image", img, "--audio", wav, "--temperature", "0"], "temperature"),
             (["--image", img, "--audio", wav, "--lip-gain", "-1"], "lip gain"),
             (["--image", img], "exactly one"),
             (["--image", img, "--audio", str(silent)], "silent"),
             (["--image", img, "--audio", wav, "--motion-video", str(tmp_path / "m.mp4")], "does not exist")]
    for args, words in cases:
        before = set(tmp_path.rglob("*"))
        r = run(*args, "-o", str(tmp_path / "bad.mp4"))
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert set(tmp_path.rglob("*")) == before


def _walk_codes(windows, cfg):
    """Smooth, clip-like codes [N, K, D] (float16, as the code cache stores them): a seeded random walk over every
    frame of ``windows``, for the prior-stage tests."""
    g = torch.Generator().manual_seed(0)
    walk = torch.randn(int(windows.offsets[-1]), cfg.num_ws, cfg.w_dim, generator=g).cumsum(0) * 0.05
    return walk.numpy().astype(np.float16)


@pytest.mark.parametrize("residual,target,step,style", [(False, "sample", False, 0), (True, "mean", True, 0),
                                                       (True, "mean", True, 2)])   # session 9's, 17's, 27's
def test_prior_stage_fits_only_the_prior_and_lowers_its_nll(cfg, small_dataset, tmp_path, residual, target, step,
                                                            style):
    from styletalker.data.dataset import ClipWindows
    from styletalker.talker.train import PriorStage, motion_nll, talker_train_config
    windows = ClipWindows(small_dataset, "train", window=8)
    codes = _walk_codes(windows, cfg)
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior="flow", prior_residual=residual, prior_target=target,
                                     prior_step_input=step, prior_input_norm=step, prior_style=style,
                                     prior_style_mix=16 if style else 0))
    _randomise(net.posterior, 3)
    frozen = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("prior.")}
    tcfg = talker_train_config("quick", batch=8, window=8)
    stage = PriorStage(net, windows, codes, tcfg, lr=3e-3)
    before = motion_nll(net, windows, codes, window=8, samples=1)
    for i in range(60):
        stage.step(i)
    after = motion_nll(net, windows, codes, window=8, samples=1)
    assert after < before - 0.5, (before, after)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in frozen.items())
    if style:           # p(c) from the fitted q: K windows' q(c | m) (fit_style_prior), then draws come from it
        from styletalker.talker.train import fit_style_prior
        net.eval()
        fit_style_prior(net, windows, codes, tcfg, seed=4)
        mix = net.prior.style_mixture()
        assert mix is not None and mix[0].shape == (net.cfg.prior_style_mix, style)
        assert np.isfinite(motion_nll(net, windows, codes, window=8, samples=1))
        PriorStage(net, windows, codes, tcfg)            # a refit is against N(0, I) again: p(c) is set after it
        assert net.prior.style_mixture() is None


def _wide_prior(cfg, windows, codes, **over) -> tuple:
    """A standardising residual flow prior whose steps start wide (log sigma + 1), then fitted for 40 steps by the
    prior stage (quick preset, edge term every step on 48-frame walks, ``over`` on top): (talker, its train config,
    the stage)."""
    from styletalker.talker.train import PriorStage, talker_train_config
    torch.manual_seed(0)
    net = Talker(dataclasses.replace(cfg, prior="flow", prior_residual=True, prior_target="mean",
                                     prior_step_input=True, prior_input_norm=True, prior_box=0.0))
    _randomise(net.posterior, 3)
    tcfg = talker_train_config("quick", batch=8, window=8, edge_frames=48, edge_every=1, **over)
    stage = PriorStage(net, windows, codes, tcfg, lr=3e-3)
    with torch.no_grad():
        net.prior.head.bias[cfg.motion_dim:] += 1.0                          # log sigma + 1: wide steps
    for i in range(40):
        stage.step(i)
    return net, tcfg, stage


@torch.no_grad()
def _free_walks(net, windows, codes) -> tuple:
    """Four free walks (no box) of 96 frames on the training world's audio: (a, e_ref, m, the states they visited)."""
    mel = torch.from_numpy(np.resize(np.asarray(windows.mel, np.float32), (96, *windows.mel.shape[1:])))
    ref = torch.from_numpy(np.asarray(codes[[0, 5, 9, 14]], np.float32))
    a, e = net.audio(mel[None].expand(4, -1, -1, -1)), net.e_ref(ref)
    m, _, seen = net.prior.walk(a, e, 1.0, gen=torch.Generator().manual_seed(1), box=False)
    return a, e, m, seen


def test_the_edge_term_keeps_the_priors_own_walks_inside_the_training_range(cfg, small_dataset):
    """The prior stage's edge term (session 19) trains at the states the prior's own free walks visit: fitted with
    it, a prior whose steps start wide (its scale raised e-fold) leaves mean +- edge_z std of the training m_t far less
    often than the same fit without it; and the walk's recorded states give back its frames exactly."""
    from styletalker.data.dataset import ClipWindows
    windows = ClipWindows(small_dataset, "train", window=8)
    codes = _walk_codes(windows, cfg)
    outside = {}
    for edge in (0.0, 1.0):
        net, tcfg, _ = _wide_prior(cfg, windows, codes, edge=edge)
        a, e, m, seen = _free_walks(net, windows, codes)
        with torch.no_grad():
            mean, std = net.prior.motion_stats()
            z = (m - mean) / std
            outside[edge] = (z.abs() > tcfg.edge_z).float().mean().item()
            assert torch.equal(seen["m"][:, 1:], m[:, :-1]) and torch.equal(seen["m2"][:, 2:], m[:, :-2])
            still, _, at = net.prior.walk(a, e, 1e-6, box=False)                 # one step from each recorded state
            flat = {k: v.flatten(0, 1) for k, v in at.items()}
            again = net.prior.step_from(flat, a.flatten(0, 1), e[:, None].expand(-1, a.shape[1], -1).flatten(0, 1),
                                        1e-6)
            assert torch.allclose(again.view_as(still), still, atol=1e-4)
    assert outside[1.0] < 0.5 * outside[0.0], outside


def test_the_edge_terms_step_part_keeps_the_walks_steps_near_the_datas(cfg, small_dataset):
    """The edge term's step part (session 25): fitted with it, a prior whose steps start wide takes steps beyond
    edge_step_z standard deviations of the posterior's own frame-to-frame steps far less often on its free walks than
    the same fit with the range part alone; the scale it measures against is the posterior mean's step std inside
    training windows."""
    from styletalker.data.dataset import ClipWindows
    from styletalker.talker.train import sample_windows, step_std, window_starts
    windows = ClipWindows(small_dataset, "train", window=8)
    codes = _walk_codes(windows, cfg)
    beyond = {}
    for part in (0.0, 1.0):
        net, tcfg, stage = _wide_prior(cfg, windows, codes, edge=1.0, edge_step=part)
        assert (stage.step_std is None) == (part == 0)
        sd = step_std(net, windows, codes, tcfg, seed=tcfg.seed + 3)
        gen = torch.Generator().manual_seed(tcfg.seed + 3)                   # the same windows, by hand
        starts = window_starts(windows, tcfg.window)
        d = []
        with torch.no_grad():
            for _ in range(16):
                b = sample_windows(windows, codes, starts, tcfg, gen, "cpu", with_frames=False)
                mu = net.posterior(b["codes"], b["ref"])[0]
                d.append((mu[:, 1:] - mu[:, :-1]).flatten(0, 1))
        assert torch.allclose(sd, torch.cat(d).std(0).clamp_min(1e-4))
        if part:
            assert torch.equal(stage.step_std, sd)                           # what the stage measured against
        m = _free_walks(net, windows, codes)[2]
        beyond[part] = ((m[:, 1:] - m[:, :-1]).abs() / sd > tcfg.edge_step_z).float().mean().item()
    assert beyond[1.0] < 0.5 * beyond[0.0], beyond


def test_mouth_probe_reads_the_mouth_and_the_posterior_is_blind_to_it(cfg):
    from styletalker.talker.train import mouth_probe
    K, D = cfg.num_ws, cfg.w_dim
    codes, lm, jaw, direction = _mouth_world(cfg)
    n, lengths = len(codes), [500, 400, 600]
    P, U, var = mouth_probe(codes, lm, lengths, rank=1, ridge=1.0)
    assert var.shape == (1,) and var.item() > 0
    pred = codes.reshape(n, -1) @ P.numpy()                                   # [n, 3]: inner gap, outer gap, width
    assert abs(np.corrcoef(pred[:, 0], jaw)[0, 1]) > 0.95                      # the probe reads the mouth
    cos = abs(U[:, 0].numpy() @ direction) / np.linalg.norm(direction)
    assert cos > 0.95                                                         # and finds its direction
    torch.manual_seed(0)
    net = Talker(cfg)
    net.posterior.mouth_basis.copy_(U)
    ws_ref, ws, _ = _inputs(cfg)
    moved = ws + 5.0 * (U @ torch.randn(U.shape[1])).view(K, D)              # a move inside the mouth subspace
    for a, b in zip(net.posterior(ws, ws_ref), net.posterior(moved, ws_ref)):
        assert torch.allclose(a, b, atol=1e-4)
    other = ws + 5.0 * torch.randn(K, D)                                     # a move elsewhere is seen
    assert not torch.allclose(net.posterior(ws, ws_ref)[0], net.posterior(other, ws_ref)[0], atol=1e-2)


def _mouth_world(cfg, n=1500, seed=0):
    """Codes [n, K, D] that open the mouth along one direction with a jaw factor in [0.1, 1], and landmarks whose
    inner and outer lip gaps follow it (inter-ocular distance 30 px)."""
    g = np.random.default_rng(seed)
    K, D = cfg.num_ws, cfg.w_dim
    jaw = g.uniform(0.1, 1.0, size=n)
    direction = g.normal(size=K * D)
    codes = (g.normal(size=(n, K * D)) * 0.1 + jaw[:, None] * direction).reshape(n, K, D).astype(np.float32)
    lm = np.zeros((n, 68, 2), np.float32)
    lm[:, 36], lm[:, 45] = (10, 20), (40, 20)
    lm[:, 48], lm[:, 54] = (15, 45), (35, 45)
    lm[:, 51], lm[:, 62] = (25, 42), (25, 44)
    lm[:, 57, 0], lm[:, 66, 0] = 25, 25
    lm[:, 57, 1], lm[:, 66, 1] = 48 + 6 * jaw, 46 + 6 * jaw
    return codes, lm, jaw, direction


def test_mouth_reset_shuts_the_reference_mouth_and_keeps_the_rest(cfg):
    from styletalker.talker.train import mouth_centre, mouth_probe
    codes, lm, jaw, direction = _mouth_world(cfg)
    K, D = cfg.num_ws, cfg.w_dim
    P, U, _ = mouth_probe(codes, lm, [len(codes)], rank=1, ridge=1.0)
    c = mouth_centre(codes, U, lm, closed=0.1)
    shut = jaw <= np.quantile(jaw, 0.1)                                     # the closed tenth, from the landmarks
    assert torch.allclose(c, torch.from_numpy(codes[shut].reshape(shut.sum(), -1) @ U.numpy()).mean(0), atol=1e-4)
    man = WManipulation(dataclasses.replace(cfg, reset_mouth=True))
    _randomise(man, 3)
    with torch.no_grad():
        man.mouth_basis.copy_(U)
        man.mouth_centre.copy_(c)
    open_refs = torch.from_numpy(codes[np.argsort(jaw)[-B:]])              # the widest-open mouths
    base = man.base(open_refs)
    gap = lambda w: w.reshape(len(w), -1).numpy() @ P.numpy()[:, 0]       # noqa: E731  (the probe's inner-lip gap)
    closed_gap = gap(torch.from_numpy(codes[shut])).mean()
    assert np.abs(gap(base) - closed_gap).max() < 0.1 * np.abs(gap(open_refs) - closed_gap).min()   # shut
    moved = open_refs + 3.0 * (U @ torch.randn(1)).view(K, D)             # another mouth, the same face otherwise
    assert torch.allclose(man.base(moved), base, atol=1e-4)
    change = (base - open_refs).flatten(1)
    assert (change - (change @ U) @ U.T).abs().max() < 1e-4                 # nothing moves outside the mouth
    out = man(open_refs, torch.zeros(B, T, cfg.audio_dim), torch.zeros(B, T, cfg.motion_dim))
    assert torch.equal(out, base[:, None].expand_as(out))                   # silence, no motion: the shut reference
    assert not TalkerConfig().reset_mouth                    # a saved config without the field loads without it


def test_code_cache_knows_its_frames(tmp_path):
    # A dataset rebuilt with other pixels (another world revision) at the same path must not reuse the old codes.
    from types import SimpleNamespace

    from styletalker.gan.generator import Generator, generator_config
    from styletalker.inversion.encoder import Encoder, for_generator
    from styletalker.talker.train import code_bank
    torch.manual_seed(0)
    G = Generator(generator_config("quick")).eval()
    E = Encoder(for_generator(G), G.w_avg).eval()
    _randomise(E, 6)
    r = G.cfg.resolution
    frames = np.random.default_rng(0).integers(0, 256, (6, r, r, 3), dtype=np.uint8)
    old = code_bank(E, SimpleNamespace(offsets=np.array([0, 6]), frames=frames), tmp_path, progress=False).copy()
    rebuilt = frames.copy()
    rebuilt[0] = 255 - rebuilt[0]
    new = code_bank(E, SimpleNamespace(offsets=np.array([0, 6]), frames=rebuilt), tmp_path, progress=False)
    assert not np.array_equal(new[0], old[0]) and np.array_equal(new[1:], old[1:])
