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
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.generator_bars import synthesis_speed              # noqa: E402  (issue 3's speed measurement)
from styletalker.data.frames import frame_bank                     # noqa: E402
from styletalker.gan.distill import fidelity, teacher_images       # noqa: E402
from styletalker.gan.generator import Generator                    # noqa: E402
from styletalker.gan.weights import SHIPPED_GENERATOR, SHIPPED_RENDERER, load_generator   # noqa: E402
from styletalker.imagemetrics import psnr                          # noqa: E402
from styletalker.inversion.invert import SHIPPED_ENCODER, check_pair, load_encoder       # noqa: E402


def at_margin(G: Generator, margin: int) -> Generator:
    """The same weights rendering with another margin."""
    if margin == G.cfg.margin:
        return G
    M = Generator(dataclasses.replace(G.cfg, margin=margin)).eval()
    M.load_state_dict(G.state_dict())
    return M


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
    ws = T.ws_for_seeds(range(a.n), psi=0.7)
    y_t = teacher_images(T, ws)
    res = dict(student=a.student, teacher=a.teacher, student_channels=S.synthesis.schedule["channels"].tolist(),
               teacher_channels=T.synthesis.schedule["channels"].tolist(), held_out="test split", margins={},
               speed_img_s=dict(teacher=synthesis_speed(T), threads=a.threads))
    for m in a.margins:
        M = at_margin(S, m)
        r = fidelity(M, T, held, E, n=a.n)
        r["samples_psnr_to_teacher"] = round(psnr(teacher_images(M, ws), y_t).mean().item(), 2)
        res["margins"][str(m)] = r
        res["speed_img_s"][f"student_margin{m}"] = synthesis_speed(M)
        print(f"margin {m}: {r}; {res['speed_img_s'][f'student_margin{m}']:.1f} img/s", flush=True)
    print(json.dumps(res, indent=1))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
