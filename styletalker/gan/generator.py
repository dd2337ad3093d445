"""G_I, the StyleGAN3-style generator (config T): mapping network z -> w -> W+, Fourier-feature input, modulated
convolutions with demodulation and filtered leaky ReLUs whose cutoffs rise layer by layer.

StyleTalker renders every frame with a frozen StyleGAN3 (paper, section 3). The architecture follows StyleGAN3
(Karras et al. 2021) at a slim width so that it trains on a laptop CPU; the sizes are ours. ``filtered=False``
builds the baseline used for the equivariance comparison: the same network with a plain leaky ReLU at each
layer's own sampling rate (no 2x oversampling, no low-pass before the next layer).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import profile
from ..errors import StyletalkerError
from .filters import apply_separable, lowpass_filter, resample_matrix


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Sizes of G_I. The layer schedule (cutoffs, stop-bands, sampling rates, sizes) is derived in layer_schedule."""
    resolution: int = 64            # output side in pixels
    z_dim: int = 128                # latent z
    w_dim: int = 128                # intermediate latent w (one per layer in W+)
    mapping_layers: int = 2         # fully connected layers of the mapping network
    mapping_lr_mul: float = 0.01    # learning-rate multiplier of the mapping network (StyleGAN's slowed mapping)
    num_layers: int = 6             # synthesis layers, not counting ToRGB
    num_critical: int = 2           # last layers sampled critically (cutoff = Nyquist)
    channel_base: int = 1536        # channels = min(channel_base / 2 / cutoff, channel_max)
    channel_max: int = 128          # widest layer
    margin: int = 8                 # extra samples on each side of the internal feature maps; 4 lets border
                                    # effects reach the image (EQ-T 41 dB), 8 gives 70 dB, StyleGAN3's 10 is slower
    first_cutoff: float = 2.0       # cutoff of the input layer (cycles per image)
    first_stopband: float = 2 ** 2.1  # stop-band of the input layer
    last_stopband_rel: float = 2 ** 0.3  # last stop-band relative to the last cutoff
    filter_size: int = 6            # taps per unit of up/down factor
    lrelu_upsampling: int = 2       # oversampling of the non-linearity
    filtered: bool = True           # False: the baseline with plain leaky ReLUs (no alias suppression)
    img_channels: int = 3           # RGB


GENERATOR_PRESETS = {
    "quick": GeneratorConfig(resolution=32, z_dim=64, w_dim=64, num_layers=5, channel_base=768, channel_max=64),
    "default": GeneratorConfig(first_cutoff=8.0, first_stopband=17.15),   # a wide input band: see docs/benchmarks.md
                                                                         # (at cutoff 2 G_I learned no eyes or lips)
    "full": GeneratorConfig(resolution=128, z_dim=256, w_dim=256, num_layers=10, channel_base=8192,
                            channel_max=256),
}


def generator_config(name: str | None = None, **overrides) -> GeneratorConfig:
    """The generator preset of a profile, with optional field overrides."""
    return dataclasses.replace(GENERATOR_PRESETS[profile(name)], **overrides)


def layer_schedule(cfg: GeneratorConfig) -> dict[str, np.ndarray]:
    """Per-layer cutoffs f_c, stop-bands f_t, sampling rates s, half-widths f_h, sizes and channels ([L + 1] each).

    Cutoffs and stop-bands rise geometrically from the input to the last non-critical layer; the last
    ``num_critical`` layers have f_c = s / 2 (critically sampled) to draw sharp detail.
    """
    n = cfg.num_layers
    if not cfg.first_cutoff < cfg.first_stopband:
        raise StyletalkerError(f"first_stopband {cfg.first_stopband:g} must exceed first_cutoff {cfg.first_cutoff:g}: "
                               f"set both (StyleGAN3 uses first_stopband = first_cutoff * 2**1.1, here "
                               f"{cfg.first_cutoff * 2 ** 1.1:.2f})")
    if not 0 < cfg.num_critical < n:
        raise StyletalkerError(f"num_critical {cfg.num_critical} must be between 1 and num_layers - 1 ({n - 1})")
    last_cutoff = cfg.resolution / 2
    last_stopband = last_cutoff * cfg.last_stopband_rel
    e = np.minimum(np.arange(n + 1) / (n - cfg.num_critical), 1)
    cutoffs = cfg.first_cutoff * (last_cutoff / cfg.first_cutoff) ** e
    stopbands = cfg.first_stopband * (last_stopband / cfg.first_stopband) ** e
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, cfg.resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + cfg.margin * 2
    sizes[-2:] = cfg.resolution
    channels = np.rint(np.minimum((cfg.channel_base / 2) / cutoffs, cfg.channel_max))
    channels[-1] = cfg.img_channels
    return dict(cutoffs=cutoffs, stopbands=stopbands, rates=rates, half_widths=half_widths,
                sizes=sizes.astype(int), channels=channels.astype(int))


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate: weights ~ N(0, 1) / lr_mul, scaled at run time."""

    def __init__(self, in_features: int, out_features: int, bias_init: float | list = 0.0, lr_mul: float = 1.0,
                 activation: bool = False, weight_init: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (weight_init / lr_mul))
        self.bias = nn.Parameter(torch.as_tensor(np.broadcast_to(np.asarray(bias_init, dtype=np.float32),
                                                                 [out_features]).copy()) / lr_mul)
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activation else x


class MappingNetwork(nn.Module):
    """z [N, z_dim] -> w [N, num_ws, w_dim]; tracks w_avg for truncation: w' = w_avg + psi (w - w_avg)."""

    def __init__(self, cfg: GeneratorConfig, num_ws: int, w_avg_beta: float = 0.998):
        super().__init__()
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=cfg.mapping_lr_mul, activation=True)
                                    for a, b in zip(dims[:-1], dims[1:]))
        self.num_ws, self.w_avg_beta = num_ws, w_avg_beta
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None,
                update_w_avg: bool = False) -> torch.Tensor:
        x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()   # normalise the 2nd moment of z
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)                  # broadcast to W+ [N, num_ws, w_dim]
        if psi != 1:
            cutoff = self.num_ws if cutoff is None else cutoff
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], psi)
        return x


class SynthesisInput(nn.Module):
    """Fourier features sin(2 pi (f . x + phi)) on a grid, rotated and translated by w[0] and a user transform.

    ``transform`` is a 3x3 inverse transform of the output image set by the user (StyleGAN3's equivariance probe):
    translating the input by t moves the whole image by t when the network is equivariant.
    """

    def __init__(self, w_dim: int, channels: int, size: int, rate: float, bandwidth: float, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        freqs = torch.randn(channels, 2, generator=g)
        radii = freqs.square().sum(1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth   # inside the disk |f| < bandwidth
        self.channels, self.size, self.rate, self.bandwidth = channels, size, rate, bandwidth
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels, generator=g) - 0.5)
        self.register_buffer("transform", torch.eye(3))
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = EqualLinear(w_dim, 4, bias_init=[1, 0, 0, 0], weight_init=0)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)                                           # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=w.device).repeat(n, 1, 1)          # inverse rotation of the image
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=w.device).repeat(n, 1, 1)          # inverse translation
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        tr = m_r @ m_t @ self.transform.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ tr[:, :2, 2:]).squeeze(2)   # [N, C]
        freqs = self.freqs.unsqueeze(0) @ tr[:, :2, :2]                                          # [N, C, 2]
        # fade out frequencies that a user transform pushes past Nyquist
        amp = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.rate / 2 - self.bandwidth)).clamp(0, 1)
        half = 0.5 * self.size / self.rate                           # the grid spans the margin too
        axis = (torch.arange(self.size, device=w.device, dtype=torch.float32) + 0.5) / self.size * 2 - 1
        axis = axis * half                                           # sample positions along x and along y
        # sin(2 pi (f_x x + f_y y + phi)) is separable: sin(a + b) = sin a cos b + cos a sin b with a along x
        # and b along y, so only [N, C, S] sines are taken, not [N, C, S, S] (3-4x faster than the full grid)
        a = 2 * math.pi * (freqs[:, :, 0:1] * axis + phases[:, :, None])          # [N, C, S] along x
        b = 2 * math.pi * freqs[:, :, 1:2] * axis                                 # [N, C, S] along y
        amp = amp[:, :, None]
        x = (torch.sin(a) * amp)[:, :, None, :] * torch.cos(b)[:, :, :, None]   # [N, C, S(y), S(x)]
        x.addcmul_((torch.cos(a) * amp)[:, :, None, :], torch.sin(b)[:, :, :, None])
        x = torch.matmul(self.weight / math.sqrt(self.channels), x.flatten(2))   # mix channels: [N, C, S * S]
        return x.view(n, self.channels, self.size, self.size)        # [N, C, S, S]


def modulate_weights(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True) -> torch.Tensor:
    """The per-sample weights of a modulated convolution (for teaching and tests; forward uses an equal shortcut).

    weight [O, I, k, k], styles s [N, I] -> w' [N, O, I, k, k] with w'_oik = s_i w_oik, then, if demodulated,
    w''_oik = w'_oik / sqrt(sum_ik w'_oik^2 + eps): unit norm per output channel.
    """
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum([2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    return w


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0, input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """x [N, I, H, W] convolved with per-sample modulated (and demodulated) weights -> [N, O, H', W'].

    Computed as scale inputs by s, one shared convolution, scale outputs by the demodulation coefficients, which
    equals the grouped per-sample convolution of modulate_weights and is faster on a CPU.
    """
    if demodulate:                                                   # pre-normalise, as StyleGAN3 does
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    s = styles if input_gain is None else styles * input_gain
    x = F.conv2d(x * s[:, :, None, None].to(x.dtype), weight.to(x.dtype), padding=padding)
    if demodulate:
        d = (styles.square() @ weight.square().sum([2, 3]).t() + 1e-8).rsqrt()   # [N, O]
        d = d[:, :, None, None].to(x.dtype)
        x = (x.mul if torch.is_grad_enabled() else x.mul_)(d)            # in place on conv2d's fresh output
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution + filtered leaky ReLU (or a 1x1 ToRGB), between two sampling rates and sizes."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critical: bool, in_channels: int, out_channels: int,
                 in_size: int, out_size: int, in_rate: float, out_rate: float, in_cutoff: float, out_cutoff: float,
                 in_half_width: float, out_half_width: float, filter_size: int = 6, lrelu_upsampling: int = 2,
                 filtered: bool = True, conv_clamp: float = 256, magnitude_beta: float = 0.999):
        super().__init__()
        self.is_torgb, self.in_size, self.out_size = is_torgb, in_size, out_size
        self.conv_kernel = 1 if is_torgb else 3
        self.conv_clamp, self.magnitude_beta = conv_clamp, magnitude_beta
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        oversample = lrelu_upsampling if (filtered and not is_torgb) else 1
        tmp_rate = max(in_rate, out_rate) * oversample               # rate of the non-linearity
        self.up = int(round(tmp_rate / in_rate))
        self.down = int(round(tmp_rate / out_rate))
        up_taps = filter_size * self.up if self.up > 1 and not is_torgb else 1
        down_taps = filter_size * self.down if self.down > 1 and not is_torgb else 1
        self.register_buffer("up_filter", _or_empty(lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate)))
        self.register_buffer("down_filter", _or_empty(
            lowpass_filter(down_taps, out_cutoff, out_half_width * 2, tmp_rate)))
        # padding so that the output has out_size samples, centred (StyleGAN3 appendix C.3)
        total = (out_size - 1) * self.down + 1
        total -= (in_size + self.conv_kernel - 1) * self.up
        total += up_taps + down_taps - 2
        lo = (total + self.up) // 2
        self.padding = (lo, total - lo, lo, total - lo)
        self.rates, self.cutoffs = (in_rate, tmp_rate, out_rate), (in_cutoff, out_cutoff)
        # the separable up- and down-sampling operators as dense matrices (see filters.resample_matrix);
        # the leaky ReLU's gain is folded into the low-pass, which is linear
        gain = 1 if is_torgb else math.sqrt(2)
        n_conv = in_size + self.conv_kernel - 1
        m_up = resample_matrix(n_conv, self.up_filter if up_taps > 1 else None, self.up, 1,
                               (lo, total - lo), gain=self.up)
        m_down = resample_matrix(m_up.shape[1], self.down_filter if down_taps > 1 else None, 1, self.down,
                                 gain=gain)
        self.register_buffer("m_up", m_up, persistent=False)
        self.register_buffer("m_down", m_down, persistent=False)
        self.slope = 1.0 if is_torgb else 0.2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.training:                                            # track the input's mean square
            self.magnitude_ema.copy_(x.detach().float().square().mean().lerp(self.magnitude_ema,
                                                                             self.magnitude_beta))
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.weight[0].numel())
        x = modulated_conv2d(x, self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.conv_kernel - 1, input_gain=self.magnitude_ema.rsqrt())
        # without a graph, the element-wise steps run in place on the fresh tensors each step makes (20-35 % faster on a
        # CPU: these tensors are the largest, at the non-linearity's rate); with one, autograd needs their inputs
        inplace = not torch.is_grad_enabled()
        x = (x.add_ if inplace else x.add)(self.bias.to(x.dtype).view(1, -1, 1, 1))
        if not self.is_torgb:                                        # ToRGB is linear: no resampling at all
            x = apply_separable(x, self.m_up)                        # upsample (and pad) to the ReLU's rate
            x = F.leaky_relu(x, self.slope, inplace=inplace)
            x = apply_separable(x, self.m_down)                      # low-pass, downsample, gain
        x = (x.clamp_ if inplace else x.clamp)(-self.conv_clamp, self.conv_clamp)
        assert x.shape[2] == self.out_size, (x.shape, self.out_size)  # [N, C_out, out_size, out_size]
        return x


def _or_empty(f: torch.Tensor | None) -> torch.Tensor:
    return torch.zeros(0) if f is None else f


class SynthesisNetwork(nn.Module):
    """W+ [N, num_ws, w_dim] -> images [N, 3, R, R] in about [-1, 1]. ws[:, 0] drives the input transform."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        s = layer_schedule(cfg)
        self.schedule = s
        self.num_ws = cfg.num_layers + 2
        self.input = SynthesisInput(cfg.w_dim, int(s["channels"][0]), int(s["sizes"][0]), float(s["rates"][0]),
                                    float(s["cutoffs"][0]))
        self.layers = nn.ModuleList()
        for i in range(cfg.num_layers + 1):
            p = max(i - 1, 0)
            self.layers.append(SynthesisLayer(
                cfg.w_dim, is_torgb=i == cfg.num_layers, is_critical=i >= cfg.num_layers - cfg.num_critical,
                in_channels=int(s["channels"][p]), out_channels=int(s["channels"][i]),
                in_size=int(s["sizes"][p]), out_size=int(s["sizes"][i]),
                in_rate=float(s["rates"][p]), out_rate=float(s["rates"][i]),
                in_cutoff=float(s["cutoffs"][p]), out_cutoff=float(s["cutoffs"][i]),
                in_half_width=float(s["half_widths"][p]), out_half_width=float(s["half_widths"][i]),
                filter_size=cfg.filter_size, lrelu_upsampling=cfg.lrelu_upsampling, filtered=cfg.filtered))

    # Without a graph on a CPU, a batch is rendered in micro-batches of this many images: every layer's largest
    # tensor (the non-linearity's, [n, 96, 170, 170] at 64 px) then stays at 22 MB, which spares the page faults
    # of mapping a fresh buffer at every layer (over 40 % of the CPU time at batch 32) and keeps the arithmetic in
    # the caches: the same batch renders 2-2.5x faster than in one pass (docs/benchmarks.md, issue 3). 0: off.
    cpu_micro_batch = 2

    def forward(self, ws: torch.Tensor, frozen: int = 0) -> torch.Tensor:
        """frozen: run the input and the first ``frozen`` layers without a graph (fine-tuning only the later ones:
        the same images, less memory and time)."""
        assert ws.ndim == 3 and ws.shape[1] == self.num_ws, ws.shape          # [N, num_ws, w_dim]
        mb = self.cpu_micro_batch
        if mb and len(ws) > mb and ws.device.type == "cpu" and not (torch.is_grad_enabled() or self.training):
            return torch.cat([self._forward(w, 0) for w in ws.split(mb)])  # images are independent: same result
        return self._forward(ws, frozen)

    def _forward(self, ws: torch.Tensor, frozen: int) -> torch.Tensor:
        wl = ws[:, 1:].unbind(1)
        with torch.set_grad_enabled(torch.is_grad_enabled() and frozen == 0):
            x = self.input(ws[:, 0])
            for layer, w in zip(self.layers[:frozen], wl[:frozen]):
                x = layer(x, w)
        for layer, w in zip(self.layers[frozen:], wl[frozen:]):
            x = layer(x, w)
        return x * 0.25                                                  # StyleGAN3's output scale


class Generator(nn.Module):
    """G_I: z -> W+ -> image. ``G(z, psi)`` samples; ``G.synthesis(ws)`` renders given W+ codes."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg, self.num_ws)

    def forward(self, z: torch.Tensor, psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        return self.synthesis(self.mapping(z, psi, update_w_avg=update_w_avg))

    @torch.no_grad()
    def sample_ws(self, n: int, psi: float = 1.0, seed: int | None = None, device=None) -> torch.Tensor:
        """W+ codes of n samples from z ~ N(0, I) with truncation psi: [n, num_ws, w_dim]."""
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.cfg.z_dim, generator=g).to(device or self.mapping.w_avg.device)
        return self.mapping(z, psi)

    @torch.no_grad()
    def ws_for_seeds(self, seeds, psi: float = 1.0, device=None) -> torch.Tensor:
        """W+ codes [len(seeds), num_ws, w_dim], sample i from its own seed (``styletalker sample`` numbering):
        the same code as ``sample_ws(1, psi, seed)``, whatever the batch."""
        z = torch.cat([torch.randn(1, self.cfg.z_dim, generator=torch.Generator().manual_seed(int(s)))
                       for s in seeds])
        return self.mapping(z.to(device or self.mapping.w_avg.device), psi)

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """Generator images [N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3]."""
    x = (img.detach().float().clamp(-1, 1) + 1) * 127.5
    return x.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


PRECISIONS = ("fp32", "bf16", "auto")


def check_precision(precision: str) -> str:
    """``precision`` if it is one of PRECISIONS, else a StyletalkerError naming them."""
    if precision not in PRECISIONS:
        raise StyletalkerError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


@functools.lru_cache(maxsize=1)
def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes in bfloat16 natively (x86 flags avx512_bf16 or amx_bf16, read from Linux's
    /proc/cpuinfo). False where that cannot be read (other systems): there bf16 is only chosen when asked for."""
    try:
        flags = set(pathlib.Path(cpuinfo).read_text(errors="replace").split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


@functools.lru_cache(maxsize=1)
def bf16_is_faster(reps: int = 3) -> bool:
    """Whether bfloat16 autocast runs a synthesis-sized 3x3 convolution ([4, 128, 36, 36], 128 filters) faster than
    float32 on this CPU: the best of ``reps`` timings each, after a warm-up, once per process (under 0.1 s).

    The flags alone mislead. With AMX, or in session 6's virtual machine, bf16 rendered G_I 2-3x faster; in session
    22's, which showed avx512_bf16 but no AMX, bf16 was slower (G_I 18.9 against 25.9 images/s, a 4-second video
    5.8 against 4.5 s), so "auto" now asks the CPU."""
    import time
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(4, 128, 36, 36, generator=g), torch.randn(128, 128, 3, 3, generator=g)

    def best(bf16: bool) -> float:
        times = []
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for i in range(reps + 1):
                t = time.perf_counter()
                torch.nn.functional.conv2d(x, w, padding=1)
                if i:                                                     # the first run warms up the kernels
                    times.append(time.perf_counter() - t)
        return min(times)
    return best(True) < best(False)


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """"fp32" or "bf16" for ``precision``: "auto" is bf16 on a CPU with bfloat16 units (:func:`cpu_has_bf16`) where
    it also measures faster (:func:`bf16_is_faster`; with AMX it renders 2-3x faster), and fp32 everywhere else (other
    CPUs would get slower; GPUs are fast enough in fp32)."""
    check_precision(precision)
    if precision != "auto":
        return precision
    return "bf16" if torch.device(device).type == "cpu" and cpu_has_bf16() and bf16_is_faster() else "fp32"


def synthesize(G: Generator, ws: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """G.synthesis(ws) without a graph, in float32 or under bfloat16 autocast (``bf16``), returned as float32;
    ``auto`` picks one for ws's device (:func:`resolve_precision`).

    bf16 matters on CPUs with bfloat16 units (AVX512-BF16, AMX): on this project's 2-core CPU it rendered 2.7x
    faster in session 6, at 48 dB PSNR from the float32 images (docs/benchmarks.md); on CPUs without them, and on
    some with them (session 22's), it is slower.
    """
    with torch.no_grad():
        if resolve_precision(precision, ws.device) == "fp32":
            return G.synthesis(ws)
        with torch.autocast(ws.device.type, dtype=torch.bfloat16):
            return G.synthesis(ws).float()
