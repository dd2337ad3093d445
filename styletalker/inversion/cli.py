"""Command-line entries of the inversion stage: ``styletalker train encoder`` and ``styletalker invert``."""
from __future__ import annotations

import pathlib
import sys

from ..errors import StyletalkerError

WARN = "styletalker: warning:"


def _sha(path: pathlib.Path) -> str:
    import hashlib
    return hashlib.sha256(path.with_suffix(".safetensors").read_bytes()).hexdigest()[:16]


def _val_frames(data, fallback):
    """The validation split's frames, or ``fallback`` (the training frames) when the dataset has none."""
    from ..data.frames import frame_bank
    try:
        return frame_bank(data, "val", False)
    except StyletalkerError:
        return fallback


def _val_scores(G, E, frames) -> dict:
    """Mean PSNR and SSIM of G(E(x)) over up to 256 frames spread evenly over ``frames`` (uint8 [N, 3, R, R])."""
    import torch

    from ..imagemetrics import psnr, ssim
    from .invert import encode
    idx = torch.linspace(0, len(frames) - 1, min(256, len(frames))).long()
    x = frames[idx].float() / 127.5 - 1
    with torch.no_grad():
        y = G.synthesis(encode(E, x))
    return dict(val_psnr=round(psnr(y, x).mean().item(), 2), val_ssim=round(ssim(y, x).mean().item(), 4))


def train_encoder(args) -> None:
    """``styletalker train encoder``: the landmark regressor, then Enc_I against the frozen G_I."""
    import dataclasses
    import time

    import torch

    from ..checkpoint import save_model
    from ..cli import ensure_dataset
    from ..config import profile
    from ..data.frames import closed_eye_frames, frame_bank, label_bank
    from ..device import describe, device as pick_device
    from ..gan.weights import load_generator
    from ..paths import portable, profile_model
    from .encoder import Encoder, for_generator
    from .landmarks import landmark_config
    from .train import encoder_train_config, landmark_rms_px, train_encoder as fit, train_landmarks
    prof = profile(args.profile)
    dev = pick_device(args.device)
    data = ensure_dataset(args.data, prof, args.quiet)
    gpath = pathlib.Path(args.generator) if args.generator else profile_model("generator", "generator", prof)
    G = load_generator(gpath, device=dev)
    over = {k: v for k, v in dict(steps=args.steps, batch=args.batch, seed=args.seed).items() if v is not None}
    cfg = encoder_train_config(prof, closed_eyes=args.closed_eyes, **over)
    ecfg = for_generator(G)
    name = f"encoder_{prof}"
    out = pathlib.Path(args.out) if args.out else pathlib.Path("out") / "train" / name
    export = pathlib.Path(args.export) if args.export else out / name
    lm_export = export.with_name(f"landmarks_{prof}")
    hw = describe(dev)
    t0 = time.time()
    limit = args.minutes * 60 if args.minutes else None
    bank = frame_bank(data, "train", not args.quiet)
    lm = label_bank(data, "train", "landmarks")
    finite = torch.isfinite(lm).flatten(1).all(1)
    if not finite.any():
        raise StyletalkerError(f"no frame of {data} has landmarks: run 'styletalker prepare' on the clips first")
    lnet, lsum = train_landmarks(bank[finite], lm[finite], out / "landmarks", cfg, landmark_config(
        prof, resolution=G.cfg.resolution), time_limit_s=limit, progress=not args.quiet, device=dev)
    vbank = _val_frames(data, bank)
    if vbank is bank:                                             # no validation split: report on training frames
        lnet_rms = landmark_rms_px(lnet.cpu(), bank[finite], lm[finite])
    else:
        lnet_rms = landmark_rms_px(lnet.cpu(), vbank, label_bank(data, "val", "landmarks"))
    save_model(lm_export, lnet, lnet.cfg, kind="landmarks",
               meta=dict(profile=prof, data=portable(data), steps=lsum["step"], seconds=round(lsum["seconds"], 1),
                         hardware=hw, val_rms_px=round(lnet_rms, 3)))
    torch.manual_seed(cfg.seed)              # Enc_I's initial weights: the same seed gives the same run
    E = Encoder(ecfg, w_avg=G.w_avg)
    left = None if limit is None else max(1.0, limit - (time.time() - t0))

    def meta_of(step: int, seconds: float, done: bool, rate=None) -> dict:
        return dict(profile=prof, data=portable(data), generator=portable(gpath), generator_sha256=_sha(gpath),
                    steps=step,
                    seconds=round(seconds, 1), images_per_s=None if rate is None else round(rate, 1),
                    hardware=hw, finished=done, train_config=dataclasses.asdict(cfg), torch=torch.__version__,
                    landmarks=portable(lm_export))

    def export_now(step: int, seconds: float) -> None:
        save_model(export, E, ecfg, kind="encoder", meta=meta_of(step, seconds, False))

    stage, summary = fit(E, G, lnet.to(dev), bank, lm if bool(finite.all()) else None, out / "encoder", cfg,
                         time_limit_s=left, progress=not args.quiet, device=dev, on_checkpoint=export_now,
                         ckpt_every=args.ckpt_every if args.ckpt_every != 500 else 100,
                         closed=closed_eye_frames(data, "train") if cfg.closed_eyes > 0 else None)
    E, G = E.cpu(), G.cpu()
    meta = meta_of(summary["step"], summary["seconds"], summary["done"], summary["images_per_s"])
    meta.update(_val_scores(G, E, vbank))
    save_model(export, E, ecfg, kind="encoder", meta=meta)
    state = "finished" if summary["done"] else "stopped at the time limit (run again to resume)"
    print(f"{state}: {summary['step']} steps in {summary['seconds']:.0f} s on {hw}; validation PSNR "
          f"{meta['val_psnr']} dB, SSIM {meta['val_ssim']}; encoder written to {export}.safetensors (+ .json), "
          f"landmark regressor (RMS {lnet_rms:.2f} px) to {lm_export}.safetensors; checkpoints in {out}")


def invert(args) -> None:
    """``styletalker invert IMAGE -o codes.safetensors [--reconstruction OUT.png]``."""
    import io
    import os

    from PIL import Image
    from safetensors.torch import save_file

    from ..cli import _out_folder
    from ..data.format import atomic_write_bytes
    from ..gan.weights import load_generator
    from .invert import invert as run_invert, load_encoder, load_image
    out = pathlib.Path(args.out)
    if out.suffix != ".safetensors":
        raise StyletalkerError(f"-o {out}: the codes are written as safetensors; name the file *.safetensors")
    _out_folder(out)
    rec = pathlib.Path(args.reconstruction) if args.reconstruction else None
    if rec is not None:
        _out_folder(rec)
        if rec.suffix.lower() != ".png":
            raise StyletalkerError(f"--reconstruction {rec}: name the file *.png")
    if args.refine_steps < 0:
        raise StyletalkerError(f"--refine-steps {args.refine_steps}: give 0 (encoder only) or more")
    image = load_image(args.image)                                  # a bad image fails before models load
    G = load_generator(args.generator)
    E = load_encoder(args.encoder)
    res = run_invert(image, E, G, refine_steps=args.refine_steps, align=not args.no_align)
    for w in res.warnings:
        print(f"{WARN} {w}", file=sys.stderr)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    save_file({"ws": res.ws.contiguous()}, str(tmp),
              metadata=dict(image=str(args.image), generator=str(args.generator or "shipped"),
                            encoder=str(args.encoder or "shipped"), refine_steps=str(args.refine_steps),
                            psnr=f"{res.psnr:.2f}"))
    os.replace(tmp, out)
    if rec is not None:
        buf = io.BytesIO()
        Image.fromarray(res.reconstruction).save(buf, format="PNG")
        atomic_write_bytes(rec, buf.getvalue())
    print(f"wrote W+ codes {tuple(res.ws.shape)} to {out}" + (f" and the reconstruction to {rec}" if rec else "")
          + f" (PSNR {res.psnr:.1f} dB against the {res.crop.shape[0]} px crop, {res.seconds:.2f} s)")


def train_detail(args) -> None:
    """``styletalker train detail``: G_I's synthesis layers and Enc_I fine-tuned together on real frames, the loss
    weighted at the inner face (see styletalker/gan/detail.py). Writes generator_<profile> and encoder_<profile> to
    --export (a folder; default the --out folder)."""
    import dataclasses

    import torch

    from ..checkpoint import read_model_info, save_model
    from ..cli import ensure_dataset, frozen_pair
    from ..config import profile
    from ..data.frames import closed_eye_frames, frame_bank, label_bank
    from ..device import describe, device as pick_device
    from ..gan.detail import DETAIL_PRESETS
    from ..gan.detail import train_detail as fit
    from ..paths import portable
    prof = profile(args.profile)
    dev = pick_device(args.device)
    data = ensure_dataset(args.data, prof, args.quiet)
    gpath, epath, G, E = frozen_pair(args, prof)
    over = {k: v for k, v in dict(steps=args.steps, batch=args.batch, seed=args.seed).items() if v is not None}
    cfg = dataclasses.replace(DETAIL_PRESETS[prof], closed_eyes=args.closed_eyes, **over)
    out = pathlib.Path(args.out) if args.out else pathlib.Path("out") / "train" / f"detail_{prof}"
    export = pathlib.Path(args.export) if args.export else out
    bank, lm = frame_bank(data, "train", not args.quiet), label_bank(data, "train", "landmarks")
    closed = closed_eye_frames(data, "train") if cfg.closed_eyes > 0 else None
    hw = describe(dev)
    prev = read_model_info(gpath).get("meta", {})                 # the generator's history, one entry per stage
    lineage = prev.get("lineage", []) + [{k: prev[k] for k in ("scheme", "kimg", "seconds", "images_per_s",
                                                                 "hardware", "command", "init") if k in prev}]

    def export_now(stage, step: int, seconds: float, done: bool = False, scores: dict | None = None) -> None:
        m = dict(profile=prof, data=portable(data), scheme="detail fine-tuning (styletalker/gan/detail.py)",
                 from_generator=portable(gpath), from_encoder=portable(epath), steps=step, seconds=round(seconds, 1),
                 hardware=hw, finished=done, detail_config=dataclasses.asdict(cfg),
                 command="styletalker " + " ".join(sys.argv[1:]), torch=torch.__version__, **(scores or {}))
        save_model(export / f"generator_{prof}", stage.G, G.cfg, kind="generator", meta=dict(m, lineage=lineage))
        save_model(export / f"encoder_{prof}", stage.E, E.cfg, kind="encoder", meta=m)

    limit = args.minutes * 60 if args.minutes else None
    stage, summary = fit(G, E, bank, lm, out, cfg, time_limit_s=limit, progress=not args.quiet, device=dev,
                         on_checkpoint=export_now, closed=closed)
    stage.G.cpu()
    stage.E.cpu()
    extra = _val_scores(stage.G, stage.E, _val_frames(data, bank))
    export_now(stage, summary["step"], summary["seconds"], summary["done"], extra)
    state = "finished" if summary["done"] else "stopped at the time limit (run again to resume)"
    print(f"{state}: {summary['step']} steps in {summary['seconds']:.0f} s on {hw}; validation PSNR "
          f"{extra['val_psnr']} dB, SSIM {extra['val_ssim']}; generator_{prof} and encoder_{prof} written to "
          f"{export}; checkpoints in {out}")
