"""Command-line entries of the talker: ``styletalker train talker`` and ``styletalker generate``."""
from __future__ import annotations

import pathlib
import sys



def train_talker(args) -> None:
    """``styletalker train talker``: the conditional sequential VAE against frozen G_I, Enc_I and D_sync."""
    import dataclasses

    import torch

    from ..checkpoint import save_model
    from ..cli import _config_overrides, ensure_dataset, frozen_pair
    from ..config import profile
    from ..data.dataset import ClipWindows
    from ..device import describe, device as pick_device
    from ..inversion.train import w_spread
    from ..paths import portable, talking_dsync
    from ..training import train
    from .model import Talker
    from .modules import TalkerConfig, talker_config
    from .train import TalkerStage, TalkerTrainConfig, code_bank, talker_train_config
    prof = profile(args.profile)
    set_over = _config_overrides(args.set, TalkerTrainConfig)            # bad --set fails before any work
    model_over = _config_overrides(args.model_set, TalkerConfig, "--model-set")
    dev = pick_device(args.device)
    data = ensure_dataset(args.data, prof, args.quiet)
    gpath, epath, G, E = frozen_pair(args, prof, dev, talking=True)       # --generator / --encoder, or generation's
    over = {k: v for k, v in dict(steps=args.steps, batch=args.batch, seed=args.seed).items() if v is not None}
    tcfg = talker_train_config(prof, use_sync=not args.no_sync, **{**set_over, **over})
    dsync = None
    if tcfg.use_sync:
        from ..sync.model import load_dsync
        dsync = load_dsync(args.dsync or talking_dsync(prof), device=dev)
    cfg = talker_config(prof, **{**model_over, "num_ws": G.num_ws, "w_dim": G.cfg.w_dim})
    name = f"talker_{prof}" + ("_nosync" if args.no_sync else "")
    out = pathlib.Path(args.out) if args.out else pathlib.Path("out") / "train" / name
    export = pathlib.Path(args.export) if args.export else out / name
    hw = describe(dev)
    windows = ClipWindows(data, "train", window=tcfg.window, progress=not args.quiet)
    codes = code_bank(E, windows, out, progress=not args.quiet)
    torch.manual_seed(tcfg.seed)             # the talker's initial weights: the same seed gives the same run
    net = Talker(cfg)
    stage = TalkerStage(net, G, windows, codes, tcfg, dsync=dsync, w_std=w_spread(G), device=dev)

    def meta_of(step: int, seconds: float, done: bool) -> dict:
        return dict(profile=prof, data=portable(data), generator=portable(gpath), encoder=portable(epath), steps=step,
                    dsync=portable(args.dsync or talking_dsync(prof)) if tcfg.use_sync else None,
                    seconds=round(seconds, 1), hardware=hw, finished=done,
                    command="styletalker " + " ".join(sys.argv[1:]),
                    train_config=dataclasses.asdict(tcfg), torch=torch.__version__)

    def export_now(step: int, seconds: float) -> None:
        save_model(export, net, cfg, kind="talker", meta=meta_of(step, seconds, False))

    limit = args.minutes * 60 if args.minutes else None
    summary = train(stage, tcfg.steps, out / "talker", log_every=10, ckpt_every=min(args.ckpt_every, 200),
                    time_limit_s=limit, progress=not args.quiet, desc="talker", on_checkpoint=export_now)
    net.eval()
    save_model(export, net, cfg, kind="talker", meta=meta_of(summary["step"], summary["seconds"], summary["done"]))
    state = "finished" if summary["done"] else "stopped at the time limit (run again to resume)"
    print(f"{state}: {summary['step']} steps in {summary['seconds']:.0f} s on {hw}; talker written to "
          f"{export}.safetensors (+ .json); checkpoints in {out}")


def generate(args) -> None:
    """``styletalker generate --image REF (--audio WAV | --text T) [--motion-video MP4] -o OUT.mp4``: a thin
    wrapper over :func:`styletalker.api.generate` (input warnings printed on stderr, one line each)."""
    from ..api import generate as run
    from ..cli import input_warnings_on_stderr
    with input_warnings_on_stderr():
        run(args.image, audio=args.audio, text=args.text, voice=args.voice, motion_video=args.motion_video,
            seed=args.seed, temperature=args.temperature, still=args.still, out=args.out, talker=args.talker,
            encoder=args.encoder, generator=args.generator, progress=not args.quiet, return_frames=False,
            precision=args.precision, lip_gain=args.lip_gain)
    from ..videoio import video_info
    from .generate import recorded_lip_gain, recorded_temperature
    info = video_info(args.out)
    default_t = recorded_temperature(args.talker) if args.temperature is None else None
    lip_gain = recorded_lip_gain(args.talker) if args.lip_gain is None else args.lip_gain
    mode = "motion from " + str(args.motion_video) if args.motion_video else \
        ("still head" if args.still else f"motion sampled (seed {args.seed}, temperature "
                                          f"{args.temperature if args.temperature is not None else default_t})")
    from ..gan.generator import resolve_precision
    print(f"wrote {args.out} ({info.get('n_frames', '?')} frames, {info.get('duration', 0):.2f} s, "
          f"{info.get('size', ['?'])[0]} px; {mode}; lip gain {lip_gain:g}; {resolve_precision(args.precision)} "
          f"rendering)")
