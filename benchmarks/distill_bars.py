"""How close, and how much faster, is the distilled G_I (``styletalker train distill``) than the G_I it came from?

    python benchmarks/distill_bars.py [--student styletalker/weights/generator_default_distilled]
        [--teacher styletalker/weights/generator_default] [--data data/cache/default] [--margins 8 4]
        [--threads 2] [--json docs/distill_bars_default.json]

1. fidelity  PSNR of the student's images to the teacher's from the same codes: Enc_I codes of 256 held-out frames
             (test identities, never seen in distillation) and 256 mapping samples (truncation 0.7, seeds 0..255);
             and of each to the real frames. For each rendering margin in --margins (the margin has no parameters,
             so the same weights render at any margin; margin 8 is what the teacher uses).
2. speed     synthesis images/s at 64 px, batch 32, fp32, on this CPU: the teacher, and the student at each margin.
The bars downstream (lip sync, identity, speed of the main command) are measured by talker_bars.py and
generation_bars.py, which render with the distilled G_I by default.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.generator_bars import synthesis_speed              # noqa: E402  (issue 3's speed measurement)
from styletalker.data.frames import frame_bank, label_bank, to_float   # noqa: E402
from styletalker.gan.distill import fidelity, spread, teacher_images   # noqa: E402
from styletalker.gan.generator import Generator                    # noqa: E402
from styletalker.gan.weights import SHIPPED_GENERATOR, SHIPPED_RENDERER, load_generator   # noqa: E402
from styletalker.imagemetrics import psnr                          # noqa: E402
from styletalker.inversion.invert import SHIPPED_ENCODER, check_pair, encode, load_encoder   # noqa: E402


def at_margin(G: Generator, margin: int) -> Generator:
    """The same weights rendering with another margin."""
    if margin == G.cfg.margin:
        return G
    M = Generator(dataclasses.replace(G.cfg, margin=margin)).eval()
    M.load_state_dict(G.state_dict())
    return M


@torch.no_grad()
def mouth_psnr(S: Generator, T: Generator, E, frames: torch.Tensor, landmarks: torch.Tensor, n: int) -> float:
    """PSNR of S's images to T's inside each frame's mouth box (landmarks 48-67, 2 px around), from Enc_I's codes of
    up to n frames spread over ``frames``: where lip sync is read."""
    idx = spread(len(frames), n)                                         # the frames fidelity() reads
    x, lm = to_float(frames[idx]), landmarks[idx][:, 48:68]
    ws = encode(E, x)
    ys, yt = teacher_images(S, ws), teacher_images(T, ws)
    sq, count = 0.0, 0
    for k in range(len(idx)):
        if not torch.isfinite(lm[k]).all():
            continue
        r = ys.shape[-1]
        x0, y0 = (lm[k].amin(0) - 2).floor().int().clamp(0, r - 1)
        x1, y1 = (lm[k].amax(0) + 2).ceil().int().clamp(1, r)
        d = ys[k, :, y0:y1, x0:x1] - yt[k, :, y0:y1, x0:x1]
        sq, count = sq + d.square().sum().item(), count + d.numel()
    return round(10 * math.log10(4 / (sq / count)), 2)                  # images in [-1, 1]: peak-to-peak 2


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", default=str(SHIPPED_RENDERER))
    ap.add_argument("--teacher", default=str(SHIPPED_GENERATOR))
    ap.add_argument("--encoder", default=str(SHIPPED_ENCODER))
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--margins", type=int, nargs="+", default=[8, 4])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    S, T, E = load_generator(a.student), load_generator(a.teacher), load_encoder(a.encoder)
    check_pair(E, S)
    held = frame_bank(a.data, "test", progress=False)
    held_lm = label_bank(a.data, "test", "landmarks")
    ws = T.ws_for_seeds(range(a.n), psi=0.7)
    y_t = teacher_images(T, ws)
    res = dict(student=a.student, teacher=a.teacher, student_channels=S.synthesis.schedule["channels"].tolist(),
               teacher_channels=T.synthesis.schedule["channels"].tolist(), held_out="test split", margins={},
               speed_img_s=dict(teacher=synthesis_speed(T), threads=a.threads))
    for m in a.margins:
        M = at_margin(S, m)
        r = fidelity(M, T, held, E, n=a.n)
        r["samples_psnr_to_teacher"] = round(psnr(teacher_images(M, ws), y_t).mean().item(), 2)
        r["mouth_psnr_to_teacher"] = mouth_psnr(M, T, E, held, held_lm, a.n)
        res["margins"][str(m)] = r
        res["speed_img_s"][f"student_margin{m}"] = synthesis_speed(M)
        print(f"margin {m}: {r}; {res['speed_img_s'][f'student_margin{m}']:.1f} img/s", flush=True)
    print(json.dumps(res, indent=1))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
