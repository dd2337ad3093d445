"""The from-scratch coupling flow: exact inverse, log-determinant equal to autograd's, seeded sampling, a real fit."""
import pytest
import torch

from styletalker import flows


def _trained_like(flow: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Fresh coupling layers are the identity (zero last layer); give every weight a random value so that the checks
    below see a genuinely nonlinear map."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return flow.double()


@pytest.mark.parametrize("context", [0, 3])
def test_inverse_recovers_input(context):
    flow = _trained_like(flows.CouplingFlow(2, n_layers=4, hidden=16, context=context))
    g = torch.Generator().manual_seed(1)
    x = 2 * torch.randn(64, 2, generator=g, dtype=torch.float64)
    c = torch.randn(64, context, generator=g, dtype=torch.float64) if context else None
    z, _ = flow(x, c)
    assert (z - x).abs().max() > 0.1                                    # the map is not the identity
    assert torch.allclose(flow.inverse(z, c), x, atol=1e-10)
    assert torch.allclose(flow(flow.inverse(x, c), c)[0], x, atol=1e-10)


@pytest.mark.parametrize("dim,context", [(2, 0), (2, 3), (5, 0), (1, 2)])
def test_log_det_matches_autograd_jacobian(dim, context):
    flow = _trained_like(flows.CouplingFlow(dim, n_layers=4, hidden=16, context=context), seed=dim + context)
    g = torch.Generator().manual_seed(2)
    for _ in range(5):                                                  # single points, one Jacobian each
        x = torch.randn(1, dim, generator=g, dtype=torch.float64)
        c = torch.randn(1, context, generator=g, dtype=torch.float64) if context else None
        J = torch.autograd.functional.jacobian(lambda v: flow(v[None], c)[0][0], x[0])      # [D, D]
        _, log_det = flow(x, c)
        assert torch.allclose(log_det[0], torch.linalg.slogdet(J).logabsdet, atol=1e-10)
        assert abs(log_det.item()) > 1e-3                               # not trivially zero


def test_context_changes_the_density():
    flow = _trained_like(flows.CouplingFlow(2, n_layers=2, hidden=16, context=1))
    x = torch.zeros(1, 2, dtype=torch.float64)
    lp = [flow.log_prob(x, torch.full((1, 1), v, dtype=torch.float64)).item() for v in (-1.0, 1.0)]
    assert abs(lp[0] - lp[1]) > 1e-3


def test_coupling_layer_checks():
    with pytest.raises(ValueError, match="context"):
        flows.AffineCoupling(1)                                         # nothing to condition on
    layer = flows.AffineCoupling(2, context=2)
    with pytest.raises(ValueError, match="context of 2"):
        layer(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="temperature"):
        flows.CouplingFlow(2).sample(4, temperature=0)


def test_permute_is_volume_preserving_and_invertible():
    perm = flows.Permute(4, torch.tensor([2, 0, 3, 1]))
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    z, ld = perm(x)
    assert torch.equal(z[:, 0], x[:, 2]) and torch.equal(perm.inverse(z), x) and torch.equal(ld, torch.zeros(3))


def test_samples_are_reproducible_with_a_seed():
    flow = _trained_like(flows.CouplingFlow(2, n_layers=3, hidden=16, context=2)).float()
    c = torch.tensor([0.3, -1.0])
    a = flow.sample(100, torch.Generator().manual_seed(7), c)
    b = flow.sample(100, torch.Generator().manual_seed(7), c)
    d = flow.sample(100, torch.Generator().manual_seed(8), c)
    assert a.shape == (100, 2) and torch.equal(a, b) and not torch.allclose(a, d)
    assert torch.equal(flows.ring_of_gaussians(50, torch.Generator().manual_seed(3)),
                       flows.ring_of_gaussians(50, torch.Generator().manual_seed(3)))


def test_temperature_scales_the_base():
    """At temperature T the samples are f^{-1}(T z), z ~ N(0, I) from the given generator."""
    flow = _trained_like(flows.CouplingFlow(2, n_layers=3, hidden=16))
    x = flow.sample(20, torch.Generator().manual_seed(5), temperature=0.5)
    z = 0.5 * torch.randn(20, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.allclose(x, flow.inverse(z), atol=1e-12)


@pytest.fixture
def one_thread():
    # Tiny matrices: extra threads only add synchronisation (and stall badly on a busy 2-core machine).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_fit_beats_a_single_gaussian_on_held_out_toy(one_thread):
    torch.manual_seed(0)                                                # the MLPs' initial weights
    train = flows.ring_of_gaussians(4000, torch.Generator().manual_seed(0))
    held_out = flows.ring_of_gaussians(2000, torch.Generator().manual_seed(1))
    flow = flows.CouplingFlow(2, n_layers=4, hidden=32)
    curve = flows.fit(flow, train, steps=300, lr=5e-3, generator=torch.Generator().manual_seed(2))
    assert len(curve) == 300 and sum(curve[-20:]) / 20 < curve[0] - 1.0
    with torch.no_grad():
        nll_flow = -flow.log_prob(held_out).mean().item()
    nll_gauss = -flows.fit_gaussian(train).log_prob(held_out).mean().item()
    nll_true = -flows.ring_log_prob(held_out).mean().item()
    # measured: true 2.52, flow ~3.3, Gaussian 4.36 nats per point
    assert nll_true < nll_flow < nll_gauss - 0.5, (nll_true, nll_flow, nll_gauss)


def test_ring_log_prob_is_a_density():
    """The toy's true density integrates to 1 (a grid sum over [-6, 6]^2)."""
    s = torch.linspace(-6, 6, 241, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(s, s, indexing="ij"), -1).view(-1, 2)
    mass = flows.ring_log_prob(grid).exp().sum() * (s[1] - s[0]) ** 2
    assert abs(mass.item() - 1) < 1e-3


def test_nod_or_still_toy():
    m, nod = flows.nod_or_still(400, 24, 8, torch.Generator().manual_seed(0))
    assert m.shape == (400, 24, 8) and nod.dtype == torch.bool and 0.4 < nod.float().mean() < 0.6
    yaw_std = m[..., 0].std(1)
    assert yaw_std[nod].min() > 0.6 and yaw_std[~nod].max() < 0.2           # two styles, nothing in between
    assert torch.equal(m, flows.nod_or_still(400, 24, 8, torch.Generator().manual_seed(0))[0])
