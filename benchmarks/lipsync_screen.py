"""A quick lip-sync screen of candidate talkers on validation clips (issue 6, session 20): 3-5 minutes per talker
where ``talker_bars.py --split val`` takes 12-15, for choosing between training runs without the test split.

    python benchmarks/lipsync_screen.py TALKER [TALKER ...] [--split val] [--clips 24] [--ceiling] [--json OUT]

For each talker, on ``--clips`` clips spread evenly over the split, rendered by generation's pair:
self   self-reenactment as in talker_bars.py: the clip's own audio and motion (the posterior mean on Enc_I's codes),
       its first frame's code as W+_ref. PSNR, SSIM, LSE-D, LSE-C (the sync evaluator).
still  the same reference and audio with m_t = 0: the lips of the audio path alone, as ``generate --still`` draws
       them, and the part of audio-driven generation (issue 7) that the motion prior does not touch.
``--ceiling`` adds the inversions G(Enc_I(x)) of the same clips, and the ground truth's LSE-C.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from talker_bars import Clips                                                         # noqa: E402

from styletalker.data.format import atomic_write_json                                  # noqa: E402
from styletalker.gan.weights import SHIPPED_RENDERER, load_generator                   # noqa: E402
from styletalker.imagemetrics import psnr, ssim                                        # noqa: E402
from styletalker.inversion.invert import SHIPPED_RENDER_ENCODER, load_encoder          # noqa: E402
from styletalker.sync.evaluator import lse, load_evaluator                             # noqa: E402
from styletalker.talker.generate import load_talker, render, sample_motion             # noqa: E402


def _t(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1


def score(y: np.ndarray, c: dict, Ev) -> dict:
    r = lse(y, c["audio"], Ev)
    return dict(psnr=psnr(_t(y), _t(c["frames"])).mean().item(), ssim=ssim(_t(y), _t(c["frames"])).mean().item(),
                lse_d=r["lse_d"], lse_c=r["lse_c"])


def mean_rows(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


@torch.no_grad()
def screen(talker, G, clips: Clips, pick, Ev) -> dict:
    out = {}
    for mode in ("self", "still"):
        rows = []
        for i in pick:
            c = clips[i]
            if mode == "self":
                ws = talker.reenact(c["codes"][:1], c["mel"][None], c["codes"][None])[0]
            else:                                    # what generate --still draws: m_t = 0
                ref = c["codes"][:1]
                ws = torch.cat([talker.compose(ref, a_c, m) for a_c, m in
                                sample_motion(talker, ref, c["mel"][None], still=True)], 1)[0]
            rows.append(score(render(G, ws), c, Ev))
        out[mode] = mean_rows(rows)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("talkers", nargs="+")
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--data", default="data/cache/default")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ceiling", action="store_true", help="also the inversions and the ground truth's LSE-C")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    G, E, Ev = load_generator(SHIPPED_RENDERER), load_encoder(SHIPPED_RENDER_ENCODER), load_evaluator()
    clips = Clips(a.data, E, None, None, split=a.split)
    pick = np.unique(np.linspace(0, clips.n - 1, a.clips).round().astype(int))
    res: dict = dict(split=a.split, clips=len(pick), talkers={})
    if a.ceiling:
        rows = [dict(score(render(G, clips[i]["codes"]), clips[i], Ev),
                     gt_lse_c=lse(clips[i]["frames"], clips[i]["audio"], Ev)["lse_c"]) for i in pick]
        res["ceiling"] = mean_rows(rows)
        print("inversions", json.dumps({k: round(v, 3) for k, v in res["ceiling"].items()}), flush=True)
    for path in a.talkers:
        res["talkers"][path] = screen(load_talker(path), G, clips, pick, Ev)
        print(path, json.dumps({m: {k: round(v, 3) for k, v in r.items()} for m, r in res["talkers"][path].items()}),
              flush=True)
    if a.json:
        atomic_write_json(a.json, res)
    return res


if __name__ == "__main__":
    main()
