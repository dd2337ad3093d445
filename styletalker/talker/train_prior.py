"""``styletalker train prior``: the motion prior (flow or Gaussian) fitted as a second stage against the frozen
posterior of a talker trained by ``styletalker train talker``. The stage itself is
:class:`styletalker.talker.train.PriorStage`."""
from __future__ import annotations

import pathlib
import sys

from ..errors import StyletalkerError


def talker_encoder(given, recorded, fallback, repo) -> pathlib.Path:
    """The encoder whose codes a prior is fitted to: ``--encoder`` if given, else the one the base talker was trained
    with (its metadata's ``encoder``, relative to the repository), else the profile's, ``fallback`` (talkers saved
    before the metadata recorded it; a function that looks it up is called only then). The posterior reads Enc_I's
    codes, so fitting the prior to another encoder's codes would fit it to motion the talker never sees."""
    if given:
        return pathlib.Path(given)
    if recorded:                     # recorded relative to the repository when inside it (``paths.portable``)
        for p in (pathlib.Path(recorded), pathlib.Path(repo) / recorded):
            if p.with_suffix(".json").exists():
                return p
        raise StyletalkerError(f"the base talker was trained on the codes of the encoder {recorded}, which is not "
                               f"there; restore it or pass --encoder NAME (the same encoder)")
    return pathlib.Path(fallback() if callable(fallback) else fallback)


def carried_calibrations(base_meta: dict) -> dict:
    """What a refitted prior's talker keeps of its base's calibrations: the lip gain (and how it was chosen), a
    property of the manipulation module, which the prior stage does not touch. The temperature is the prior's own and
    is not carried: a new prior needs its own calibration (``benchmarks/calibrate_temperature.py``)."""
    return {k: base_meta[k] for k in ("lip_gain", "lip_gain_calibration") if k in base_meta}


def base_prior_state(vae, cfg) -> dict:
    """The base talker's prior weights for a prior of config ``cfg`` to start from: all of them where the GRU reads
    the same inputs; where ``cfg`` changes them (the last step, standardisation: ``prior.py``), the GRU and the head
    read other numbers than the base's did, so those start fresh and only the rest (the residual pull) is kept. A
    style latent that the base lacks (``prior_style``) adds GRU inputs whose weights start at 0; another noise
    context (``prior_noise_context``) starts the head and the flow fresh."""
    import torch

    state = vae.prior.state_dict()
    if cfg.prior_noise_context != vae.cfg.prior_noise_context:     # the head and flow read other numbers: fresh
        state = {k: v for k, v in state.items() if not k.startswith(("head.", "scale_head.", "flow."))}
    if (cfg.prior_step_input, cfg.prior_input_norm) != (vae.cfg.prior_step_input, vae.cfg.prior_input_norm):
        return {k: v for k, v in state.items() if not k.startswith(("cell.", "head.", "style_net."))}
    extra = cfg.prior_style - vae.cfg.prior_style
    if extra > 0:          # a style latent the base lacks: its GRU columns start at 0, so the fit starts at the base
        w = state["cell.weight_ih"]
        state["cell.weight_ih"] = torch.cat([w, w.new_zeros(w.shape[0], extra)], 1)
    elif extra < 0:
        state = {k: v for k, v in state.items() if not k.startswith(("cell.", "head.", "style_net."))}
    return state


def train_prior(args) -> None:
    """``styletalker train prior --prior flow|gaussian [--talker NAME] [--target mean|sample] [--absolute]
    [--raw-inputs]``: base
    talker default out/train/talker_P/talker_P; writes the whole talker (VAE weights unchanged, the new prior) as
    talker_P (flow) or talker_P_gaussian, with the held-out motion NLL in its metadata. Since session 10 the prior is
    residual and fitted to the posterior's mean by default, and since session 17 its GRU reads the last step too, all
    inputs standardised (``styletalker.talker.prior``)."""
    import dataclasses

    import torch

    from ..checkpoint import load_model, read_model_info, save_model
    from ..cli import _config_overrides, ensure_dataset
    from ..config import profile
    from ..data.dataset import ClipWindows
    from ..device import describe, device as pick_device
    from ..inversion.invert import load_encoder
    from ..paths import REPO_DIR, WEIGHTS_DIR, portable, talking_model
    from ..training import train
    from .model import Talker
    from .modules import TalkerConfig
    from .train import PriorStage, TalkerTrainConfig, code_bank, fit_style_prior, motion_nll, talker_train_config
    prof = profile(args.profile)
    set_over = _config_overrides(args.set, TalkerTrainConfig)            # bad --set fails before any work
    dev = pick_device(args.device)
    kind = args.prior or "flow"
    if args.style_dim < 0 or (args.style_dim and args.raw_inputs):
        raise StyletalkerError(f"--style-dim {args.style_dim}: give 0 (none) or a positive number of dimensions, "
                               f"without --raw-inputs (the style encoder reads the standardised inputs)")
    if args.noise_context == "style" and args.raw_inputs:
        raise StyletalkerError("--noise-context style reads the standardised audio and identity features: drop "
                               "--raw-inputs")
    base = pathlib.Path(args.talker or pathlib.Path("out") / "train" / f"talker_{prof}" / f"talker_{prof}")
    if not base.with_suffix(".json").exists():
        raise StyletalkerError(f"no talker at {base}: train it first with 'styletalker train talker --profile {prof}' "
                               f"or pass --talker NAME")
    over = {k: v for k, v in dict(steps=args.steps, batch=args.batch, seed=args.seed).items() if v is not None}
    sizes = dict(steps=3000, batch=32, window=32) if prof != "quick" else {}
    tcfg = talker_train_config(prof, **{**sizes, **set_over, **over})
    vae = load_model(base, Talker, TalkerConfig, kind="talker", device=dev)
    cfg = dataclasses.replace(vae.cfg, prior=kind, prior_target=args.target, prior_residual=not args.absolute,
                              prior_step_input=not args.raw_inputs, prior_input_norm=not args.raw_inputs,
                              prior_style=args.style_dim, prior_style_mix=256 if args.style_dim else 0,
                              prior_noise_context=args.noise_context)
    torch.manual_seed(tcfg.seed)        # the fresh parts (the flow; the GRU and head where the inputs changed)
    net = Talker(cfg).to(dev)
    net.load_state_dict({k: v for k, v in vae.state_dict().items() if not k.startswith("prior.")}, strict=False)
    # both priors start from the same point: the jointly trained Gaussian prior where the GRU reads the same inputs
    # (the flow's GRU and location-scale head are the same modules), else a fresh GRU and head drawn from the same
    # seed (they are built before the flow), so equal steps compare them fairly
    start = base_prior_state(vae, cfg)
    missing, _ = net.prior.load_state_dict(start, strict=False)
    fresh = ("flow.", "pull", "in_mean", "in_std", "style_", "scale_head.") + \
        (() if "cell.weight_ih" in start else ("cell.",)) + (() if "head.weight" in start else ("head.",))
    lacking = sorted(k for k in missing if not k.startswith(fresh))                    # those may be new here
    if lacking:
        raise StyletalkerError(f"the base talker's prior lacks {lacking}: is {base} a trained talker?")
    if cfg.prior_residual and (not vae.cfg.prior_residual or "head.weight" not in start):
        # the joint prior's head predicts m_t; a residual head predicts the step, which starts at 0 ("stay")
        with torch.no_grad():
            net.prior.head.weight[:cfg.motion_dim].zero_()
            net.prior.head.bias[:cfg.motion_dim].zero_()
    data = ensure_dataset(args.data, prof, args.quiet)
    base_meta = read_model_info(base).get("meta", {})
    epath = talker_encoder(args.encoder, base_meta.get("encoder"), lambda: talking_model("encoder", prof), REPO_DIR)
    E = load_encoder(epath, device=dev)
    name = f"talker_{prof}" + ("" if kind == "flow" else "_gaussian")
    out = pathlib.Path(args.out) if args.out else pathlib.Path("out") / "train" / f"prior_{prof}_{kind}"
    export = pathlib.Path(args.export) if args.export else out / name
    windows = ClipWindows(data, "train", window=tcfg.window, progress=not args.quiet)
    # the code cache goes beside the base talker (its own run folder: computed once for both priors), but never into
    # the package's weights folder, when a prior is fine-tuned from the shipped talker
    cache = out if base.parent.resolve() == WEIGHTS_DIR.resolve() else base.parent
    codes = code_bank(E, windows, cache, progress=not args.quiet)
    stage = PriorStage(net, windows, codes, tcfg, device=dev)
    hw = describe(dev)

    # the base talker's own run (its command, steps, time), so the exported JSON records how to rebuild both stages
    base_run = {k: v for k, v in base_meta.items() if k in ("command", "generator", "encoder", "steps", "seconds",
                                                            "hardware", "finished")}

    def meta_of(step: int, seconds: float, done: bool, **extra) -> dict:
        return dict(profile=prof, data=portable(data), base=portable(base), base_run=base_run,
                    encoder=portable(epath), generator=base_meta.get("generator"), steps=step,
                    seconds=round(seconds, 1),
                    hardware=hw, finished=done, command="styletalker " + " ".join(sys.argv[1:]),
                    stage="prior (second stage, frozen posterior)", train_config=dataclasses.asdict(tcfg),
                    torch=torch.__version__, **carried_calibrations(base_meta), **extra)

    limit = args.minutes * 60 if args.minutes else None
    summary = train(stage, tcfg.steps, out / "prior", log_every=20, ckpt_every=min(args.ckpt_every, 500),
                    time_limit_s=limit, progress=not args.quiet, desc=f"{kind} prior",
                    on_checkpoint=lambda s, t: save_model(export, net, cfg, kind="talker", meta=meta_of(s, t, False)))
    net.eval()
    if cfg.prior_style_mix:          # p(c): the aggregate posterior of the fitted q (styletalker/talker/prior.py)
        fit_style_prior(net, windows, codes, tcfg, seed=tcfg.seed + 4, device=dev)
    test = ClipWindows(data, "test", window=tcfg.window, progress=False)
    nll = motion_nll(net, test, code_bank(E, test, out / "test", progress=not args.quiet))
    save_model(export, net, cfg, kind="talker", meta=meta_of(summary["step"], summary["seconds"], summary["done"],
                                                             test_motion_nll=round(nll, 4)))
    print(f"{kind} prior: {summary['step']} steps in {summary['seconds']:.0f} s on {hw}; held-out motion NLL "
          f"{nll:.3f} nats/frame; talker written to {export}.safetensors (+ .json)")
