"""Can a slimmer G_I be made from the shipped one on this CPU, without a GPU? Prune, then distil: a probe.

    python benchmarks/distill_probe.py [--set channel_base=1024] [--codes 4000] [--minutes 30] [--threads 2]
        [--out out/distill] [--json docs/distill_probe_s11.json]

The student is the default preset with ``--set`` overrides that change only widths (same layers, sampling rates and
W+ layout, so Enc_I's codes and the talker drive it unchanged). It starts from the teacher's weights: each layer
keeps the output channels with the largest RMS on real codes (Enc_I of training frames), and each next layer the
matching input channels; the Fourier input keeps the frequencies its kept outputs weigh most. It is then trained
to reproduce the teacher's images from the same codes (L1, Adam, the teacher's images computed once for ``--codes``
training codes) for ``--minutes``. Reported: PSNR to the teacher and to the real frames on held-out validation
codes, after pruning and after distillation, and the student's synthesis speed. The student is saved in ``--out``
(not shipped: every downstream bar would have to be re-measured on it).
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.generator_bars import synthesis_speed           # noqa: E402  (issue 3's speed measurement)
from styletalker.checkpoint import save_model                    # noqa: E402
from styletalker.cli import _config_overrides                    # noqa: E402
from styletalker.data.frames import frame_bank, to_float         # noqa: E402
from styletalker.gan.generator import Generator, GeneratorConfig, generator_config   # noqa: E402
from styletalker.gan.weights import load_generator               # noqa: E402
from styletalker.imagemetrics import psnr                        # noqa: E402
from styletalker.inversion.invert import encode, load_encoder    # noqa: E402


@torch.no_grad()
def channel_rms(G: Generator, ws: torch.Tensor) -> list[torch.Tensor]:
    """RMS of every output channel of the input layer and of each non-ToRGB layer over ws: [C_i] each."""
    outs, hooks = [], []
    mods = [G.synthesis.input] + list(G.synthesis.layers[:-1])
    for m in mods:
        hooks.append(m.register_forward_hook(lambda mod, i, o: outs.append(o.square().mean([0, 2, 3]))))
    sums = None
    for chunk in ws.split(16):
        outs.clear()
        G.synthesis(chunk)
        sums = [o.clone() for o in outs] if sums is None else [s + o for s, o in zip(sums, outs)]
    for h in hooks:
        h.remove()
    return [s.sqrt() for s in sums]


def _top(score: torch.Tensor, k: int) -> torch.Tensor:
    return score.topk(k).indices.sort().values


@torch.no_grad()
def prune(T: Generator, cfg: GeneratorConfig, ws: torch.Tensor) -> Generator:
    """A student of config ``cfg`` (same layout as T's, fewer channels) initialised from T's strongest channels."""
    S = Generator(cfg).eval()
    if len(S.synthesis.layers) != len(T.synthesis.layers):
        raise SystemExit("the student must have the teacher's layers: override widths only (channel_base, channel_max)")
    S.mapping.load_state_dict(T.mapping.state_dict())
    rms = channel_rms(T, ws)
    ch = S.synthesis.schedule["channels"]                             # layer i maps channels[i - 1] -> channels[i]
    keep = [_top(r, int(n)) for r, n in zip(rms, [ch[0], *ch[:-1]])]  # the input's outputs, then each layer's
    ti, si = T.synthesis.input, S.synthesis.input
    fk = _top(ti.weight[keep[0]].norm(dim=0), si.channels)           # the frequencies the kept outputs weigh most
    si.freqs.copy_(ti.freqs[fk])
    si.phases.copy_(ti.phases[fk])
    si.weight.copy_(ti.weight[keep[0]][:, fk] * math.sqrt(si.channels / ti.channels))   # forward divides by sqrt(C)
    si.affine.load_state_dict(ti.affine.state_dict())
    for i, (tl, sl) in enumerate(zip(T.synthesis.layers, S.synthesis.layers)):
        k_in = keep[i]
        k_out = keep[i + 1] if i + 1 < len(keep) else torch.arange(tl.weight.shape[0])   # ToRGB keeps RGB
        sl.weight.copy_(tl.weight[k_out][:, k_in])
        sl.bias.copy_(tl.bias[k_out])
        sl.affine.weight.copy_(tl.affine.weight[k_in])
        sl.affine.bias.copy_(tl.affine.bias[k_in])
        sl.magnitude_ema.copy_(tl.magnitude_ema)
    return S


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=None, metavar="FIELD=VALUE",
                    help="student GeneratorConfig override (default: channel_base=1024)")
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--codes", type=int, default=4000, help="training codes (Enc_I of training frames)")
    ap.add_argument("--val", type=int, default=256, help="held-out validation frames")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="out/distill")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t_start = time.time()
    T, E = load_generator().eval(), load_encoder()
    overrides = a.set if a.set is not None else ["channel_base=1024"]
    cfg = generator_config("default", **_config_overrides(overrides, GeneratorConfig))
    train, val = frame_bank(a.data, "train", progress=False), frame_bank(a.data, "val", progress=False)
    x_tr = train[torch.linspace(0, len(train) - 1, a.codes).long()]
    x_val = to_float(val[torch.linspace(0, len(val) - 1, a.val).long()])
    with torch.no_grad():
        ws_tr, ws_val = encode(E, x_tr), encode(E, x_val)
        t0 = time.time()
        y_tr = torch.cat([T.synthesis(w) for w in ws_tr.split(64)])
        y_val = torch.cat([T.synthesis(w) for w in ws_val.split(64)])
        teacher_s = time.time() - t0
    S = prune(T, cfg, ws_tr[:512])

    def scores() -> dict:
        with torch.no_grad():
            y = torch.cat([S.synthesis(w) for w in ws_val.split(64)])
        return dict(psnr_to_teacher=psnr(y, y_val).mean().item(), psnr_to_real=psnr(y, x_val).mean().item())

    res = dict(student=overrides, teacher_psnr_to_real=psnr(y_val, x_val).mean().item(), codes=a.codes,
               teacher_targets_seconds=round(teacher_s, 1), pruned=scores(), curve=[])
    print("teacher", res["teacher_psnr_to_real"], "pruned", res["pruned"], flush=True)
    params = [p for n, p in S.synthesis.named_parameters()]
    opt = torch.optim.Adam(params, lr=a.lr, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(0)
    step, t0, budget = 0, time.time(), a.minutes * 60
    next_report = 0.0
    while time.time() - t0 < budget:
        idx = torch.randint(0, len(ws_tr), (a.batch,), generator=g)
        loss = (S.synthesis(ws_tr[idx]) - y_tr[idx]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if time.time() - t0 >= next_report:
            row = dict(step=step, seconds=round(time.time() - t0, 1), loss=loss.item(), **scores())
            res["curve"].append(row)
            print(row, flush=True)
            save_model(pathlib.Path(a.out) / "generator", S, cfg, kind="generator",
                       meta=dict(command="python benchmarks/distill_probe.py " + " ".join(sys.argv[1:]), **row))
            next_report += 300
    res["distilled"] = dict(step=step, seconds=round(time.time() - t0, 1), images=step * a.batch, **scores())
    save_model(pathlib.Path(a.out) / "generator", S, cfg, kind="generator",
               meta=dict(command="python benchmarks/distill_probe.py " + " ".join(sys.argv[1:]), **res["distilled"]))
    res["speed_img_s"] = {name: synthesis_speed(G) for name, G in (("teacher", T), ("student", S))}   # batch 32
    res["total_seconds"] = round(time.time() - t_start, 1)
    print(json.dumps({k: v for k, v in res.items() if k != "curve"}, indent=1))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
