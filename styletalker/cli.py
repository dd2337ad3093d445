"""The command line: ``styletalker <command>`` or ``python -m styletalker <command>``.

Every problem a user can fix (bad input, missing file, unknown name) is reported on one line with a non-zero exit,
never a traceback; nothing half-written is left behind (outputs are written to a temporary file and renamed).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import pathlib
import sys

from .config import PROFILES
from .errors import StyletalkerError


def _out_folder(path: pathlib.Path) -> None:
    """Fail early (before any work) if the output's folder can't be written."""
    import os
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if not folder.is_dir():
        raise StyletalkerError(f"output folder {folder} does not exist: create it or choose another -o path")
    if not os.access(folder, os.W_OK):
        raise StyletalkerError(f"output folder {folder} is not writable: choose another -o path")


@contextlib.contextmanager
def input_warnings_on_stderr():
    """Print the API's input warnings (:class:`styletalker.api.InputWarning`) as one 'styletalker: warning:' line
    each; other warnings are shown as Python would."""
    import warnings

    from .api import InputWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, InputWarning):
                    print(f"styletalker: warning: {w.message}", file=sys.stderr)
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def cmd_world(args) -> None:
    """Render a ground-truth clip of the synthetic world: a sample identity says a sentence."""
    import torch

    from . import tts
    from .videoio import write_video
    from .world import behaviour, clip, head
    out = pathlib.Path(args.out)
    _out_folder(out)
    if args.style not in behaviour.STYLES:
        raise StyletalkerError(f"unknown style {args.style!r}: choose one of {', '.join(behaviour.STYLES)}")
    if args.resolution % 2 or not 32 <= args.resolution <= 1024:
        raise StyletalkerError(f"--resolution {args.resolution} must be even and within 32..1024")
    speech = tts.synthesize(args.text, voice=args.voice, rate=args.rate, pitch=args.pitch)
    identity = head.sample_identities(1, torch.Generator().manual_seed(args.identity))[0]
    c = clip.make_clip(identity, args.text, args.voice, args.style, args.seed, args.resolution, speech=speech)
    write_video(out, c.frames, fps=c.fps, audio=c.audio, sample_rate=c.sample_rate)
    print(f"wrote {out} ({len(c.frames)} frames, {len(c.audio) / c.sample_rate:.2f} s, "
          f"{args.resolution} px, voice {args.voice}, style {args.style})")


def cmd_demo(args) -> None:
    """What `make demo` runs: the shipped portrait says a sentence (text to speech), head motion sampled by the
    shipped talker; writes an mp4 with sound and a contact-sheet PNG."""
    import matplotlib
    matplotlib.use("Agg")                                       # the contact sheet is saved, never shown
    from .api import demo
    out = pathlib.Path(args.out)
    grid = pathlib.Path(args.grid) if args.grid else out.with_name(out.stem + "_grid.png")
    with input_warnings_on_stderr():
        r = demo(out, grid, seed=args.seed, progress=not args.quiet)
    print(f"wrote {r['out']} ({r['frames']} frames, with sound) and the contact sheet {r['grid']} "
          f"in {r['seconds']:.1f} s")


def cmd_world_demo(args) -> None:
    """The ground truth instead of the model: the synthetic world renders a talking-head clip, with sound."""
    args.out = args.out or str(pathlib.Path("out") / "demo_world.mp4")
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    args.text = "Hello! I am a synthetic face, and I speak with real text to speech."
    args.voice, args.style, args.seed, args.identity = "en-us+f3", "turning", 0, 3
    args.rate, args.pitch, args.resolution = 160, 50, 256
    cmd_world(args)


def cmd_data(args) -> None:
    """Build the synthetic dataset of a profile."""
    import time

    from .data.build import build_dataset
    t = time.time()
    man = build_dataset(args.out, args.profile, workers=args.workers, progress=not args.quiet)
    n = {k: len(v) for k, v in man["splits"].items()}
    print(f"dataset in {args.out}: {man['resolution']} px, identities per split {n}, "
          f"{man['clips_per_identity']} clips each ({time.time() - t:.1f} s)")


def cmd_prepare(args) -> None:
    """Prepare a folder of real talking-head mp4 clips (VoxCeleb2-style) into the dataset format."""
    from .data.prepare import prepare
    man = prepare(args.src, args.dst, resolution=args.resolution, seed=args.seed, progress=not args.quiet)
    print(f"prepared {args.dst}: identities per split { {k: len(v) for k, v in man['splits'].items()} }")


def cmd_features(args) -> None:
    """Log-mel features of an audio file (80 bands, 100 frames/s), saved as .npy [80, frames]."""
    import io

    import numpy as np

    from .audio import load_audio, log_mel
    from .data.format import atomic_write_bytes
    out = pathlib.Path(args.out)
    _out_folder(out)
    mel = log_mel(load_audio(args.audio)).numpy()
    buf = io.BytesIO()
    np.save(buf, mel)
    atomic_write_bytes(out, buf.getvalue())
    print(f"wrote {out}: log-mel {mel.shape[0]} x {mel.shape[1]} frames")


def cmd_voices(args) -> None:
    """List the text-to-speech voices."""
    from .tts import VOICES
    for name, sex in sorted(VOICES.items()):
        print(f"{name}\t{sex}")


TRAIN_STAGES = {                     # stage -> "module:function(args)"; each stage owns its own command code
    "generator": "styletalker.cli:train_generator",
    "distill": "styletalker.cli:train_distill",
    "encoder": "styletalker.inversion.cli:train_encoder",
    "detail": "styletalker.inversion.cli:train_detail",
    "sync": "styletalker.sync.cli:train_sync",
    "evaluator": "styletalker.sync.cli:train_evaluator",
    "talker": "styletalker.talker.cli:train_talker",
    "prior": "styletalker.talker.train_prior:train_prior",
}


def _call(target: str, args) -> None:
    import importlib
    module, name = target.split(":")
    getattr(importlib.import_module(module), name)(args)


def cmd_train(args) -> None:
    """Train a model stage (generator, distill, encoder, detail, sync, evaluator, talker or prior), resuming from the
    last checkpoint."""
    if args.stage not in TRAIN_STAGES:
        raise StyletalkerError(f"unknown stage {args.stage!r}: choose one of {', '.join(TRAIN_STAGES)}")
    if args.model_set and args.stage != "talker":
        raise StyletalkerError(f"--model-set sets the talker's model config; 'train {args.stage}' has none: drop it "
                               f"(--set FIELD=VALUE overrides this stage's settings)")
    if getattr(args, "closed_eyes", 0):
        from .data.frames import check_share
        check_share(args.closed_eyes)
        image_stage = args.stage in ("encoder", "detail") or (args.stage == "generator" and args.scheme == "recon")
        if not image_stage:
            raise StyletalkerError(f"--closed-eyes over-samples closed-eye frames in the image stages (generator "
                                   f"--scheme recon, encoder, detail); 'train {args.stage}"
                                   f"{' --scheme ' + args.scheme if args.stage == 'generator' else ''}' does not "
                                   "use it")
    _call(TRAIN_STAGES[args.stage], args)


def ensure_dataset(path, prof: str, quiet: bool = False) -> pathlib.Path:
    """The dataset a train command uses: PATH (which must exist), or data/cache/<profile>, built when missing."""
    from .paths import cache_dir
    data = pathlib.Path(path) if path else cache_dir() / prof
    if not (data / "manifest.json").exists():
        if path:
            raise StyletalkerError(f"no dataset at {data}: build it with 'styletalker data --profile {prof} "
                                   f"--out {data}'")
        from .data.build import build_dataset
        print(f"building the {prof} dataset in {data} first")
        build_dataset(data, prof, progress=not quiet)
    return data


def frozen_pair(args, prof: str, device="cpu", talking: bool = False) -> tuple:
    """(generator path, encoder path, G_I, Enc_I) named by a train command's --generator and --encoder, checked to
    fit each other, on ``device``. The defaults are the profile's G_I and Enc_I (the shipped ones for ``default``).
    With ``talking``, they are the pair that video generation renders with (``paths.talking_model``). A default is
    looked up only for the one not given."""
    from .gan.weights import load_generator
    from .inversion.invert import check_pair, load_encoder
    from .paths import profile_model, talking_model
    def default(stage: str) -> pathlib.Path:                           # looked up only when not given
        return talking_model(stage, prof) if talking else profile_model(stage, stage, prof)

    gpath = pathlib.Path(args.generator) if args.generator else default("generator")
    epath = pathlib.Path(args.encoder) if args.encoder else default("encoder")
    G, E = load_generator(gpath, device=device), load_encoder(epath, device=device)
    check_pair(E, G)
    return gpath, epath, G, E


def train_generator(args) -> None:
    """``styletalker train generator``: the StyleGAN3-style G_I."""
    import torch

    from .checkpoint import save_model
    from .config import profile
    from .device import describe, device as pick_device
    from .gan.discriminator import discriminator_config
    from .gan.generator import GeneratorConfig, generator_config
    from .gan.train import gan_train_config, train_generator
    if args.face_weight < 0 or (args.face_weight > 0 and args.scheme != "recon"):
        raise StyletalkerError(f"--face-weight {args.face_weight:g}: the face weight is a non-negative extra loss "
                               "weight of the reconstruction scheme; use it with --scheme recon")
    prof = profile(args.profile)
    dev = pick_device(args.device)
    data = ensure_dataset(args.data, prof, args.quiet)
    gen_cfg = generator_config(prof, filtered=not args.baseline, **_config_overrides(args.set, GeneratorConfig))
    over = {k: v for k, v in dict(kimg=args.kimg, batch=args.batch, r1_gamma=args.r1_gamma,
                                  seed=args.seed).items() if v is not None}
    train_cfg = gan_train_config(prof, **over)
    name = f"generator_{prof}" + ("_baseline" if args.baseline else "")
    out = pathlib.Path(args.out) if args.out else pathlib.Path("out") / "train" / name
    init = None
    if args.init:
        from .gan.weights import load_generator
        init = load_generator(args.init, expected=gen_cfg)
    hw = describe(dev)
    export = pathlib.Path(args.export) if args.export else out / name
    limit = args.minutes * 60 if args.minutes else None

    def meta_of(step: int, seconds: float, done: bool, rate: float | None = None) -> dict:
        return dict(profile=prof, data=str(data), kimg=round(step * train_cfg.batch / 1e3, 2), steps=step,
                    seconds=round(seconds, 1), images_per_s=None if rate is None else round(rate, 1),
                    hardware=hw, finished=done, init=args.init, train_config=dataclasses.asdict(train_cfg),
                    torch=torch.__version__)

    def export_now(stage, step: int, seconds: float) -> None:                # the EMA generator so far
        save_model(export, stage.G_ema, gen_cfg, kind="generator", meta=meta_of(step, seconds, False))

    if args.scheme == "recon":                                       # autoencoder warm start, mapping fitted
        from .data.frames import closed_eye_frames, frame_bank, label_bank
        from .gan.autoencoder import train_reconstruction
        from .gan.generator import Generator
        torch.manual_seed(train_cfg.seed)    # G's and the frame encoder's initial weights come from the seed
        G = init if init is not None else Generator(gen_cfg)
        lm = label_bank(data, "train", "landmarks") if args.face_weight > 0 else None
        closed = closed_eye_frames(data, "train") if args.closed_eyes > 0 else None
        stage, summary = train_reconstruction(G, frame_bank(data, "train", not args.quiet), out,
                                              kimg=train_cfg.kimg, batch=train_cfg.batch,
                                              time_limit_s=limit, progress=not args.quiet, device=dev,
                                              landmarks=lm, face_weight=args.face_weight,
                                              closed=closed, closed_share=args.closed_eyes)
        meta = meta_of(summary["step"], summary["seconds"], summary["done"], summary["images_per_s"])
        meta.update(scheme="recon", reconstruction_psnr=round(summary["psnr"], 2),
                    mapping_loss=round(summary["mapping_loss"], 4), face_weight=args.face_weight,
                    closed_eyes=args.closed_eyes)
        save_model(export, G, gen_cfg, kind="generator", meta=meta)
    else:
        stage, summary = train_generator(data, out, gen_cfg, discriminator_config(prof), train_cfg, dev,
                                         time_limit_s=limit, progress=not args.quiet, init=init,
                                         on_checkpoint=export_now, ckpt_every=args.ckpt_every)
        meta = meta_of(summary["step"], summary["seconds"], summary["done"], summary["images_per_s"])
        meta.update(scheme="adversarial")
        save_model(export, stage.G_ema, gen_cfg, kind="generator", meta=meta)
    state = "finished" if summary["done"] else "stopped at the time limit (run again to resume)"
    print(f"{state}: {meta['kimg']} kimg in {meta['seconds']:.0f} s ({meta['images_per_s']} img/s on {hw}); "
          f"{'generator' if args.scheme == 'recon' else 'EMA generator'} written to {export}.safetensors (+ .json); "
          f"checkpoint in {out}")


def train_distill(args) -> None:
    """``styletalker train distill``: a narrower G_I distilled from the shipped one (st.gan.distill)."""
    import hashlib

    import torch

    from .checkpoint import save_model
    from .config import profile
    from .data.frames import frame_bank, label_bank
    from .device import describe, device as pick_device
    from .gan.distill import distill, distill_config, fidelity
    from .gan.generator import GeneratorConfig
    from .gan.weights import load_generator
    from .paths import portable
    prof = profile(args.profile)
    dev = pick_device(args.device)
    data = ensure_dataset(args.data, prof, args.quiet)
    tpath, epath, T, E = frozen_pair(args, prof)
    init = load_generator(args.init) if args.init else None
    if init is not None and args.set:
        raise StyletalkerError("--init gives the student (its widths too): drop --set, or --init to prune afresh")
    over = _config_overrides(args.set or ["channel_base=%d" % (T.cfg.channel_base * 2 // 3)], GeneratorConfig)
    student = init.cfg if init is not None else dataclasses.replace(T.cfg, **over)
    over = {f.name: getattr(student, f.name) for f in dataclasses.fields(student)
            if getattr(student, f.name) != getattr(T.cfg, f.name)}
    if args.face_weight < 0:
        raise StyletalkerError(f"--face-weight {args.face_weight:g} must be >= 0 (0 = plain L1)")
    cfg = distill_config(prof, face_weight=args.face_weight,
                         **{k: v for k, v in dict(steps=args.steps, batch=args.batch,
                                                  seed=args.seed).items() if v is not None})
    name = f"generator_{prof}_distilled"
    out = pathlib.Path(args.out) if args.out else pathlib.Path("out") / "train" / name
    export = pathlib.Path(args.export) if args.export else out / name
    hw = describe(dev)
    sha = hashlib.sha256(tpath.with_suffix(".safetensors").read_bytes()).hexdigest()[:16]

    def meta_of(step: int, seconds: float, done: bool, rate=None) -> dict:
        return dict(profile=prof, data=portable(data), scheme="distilled", init=args.init, teacher=portable(tpath),
                    teacher_sha256=sha, encoder=portable(epath), student_overrides=over, steps=step,
                    seconds=round(seconds, 1), images_per_s=None if rate is None else round(rate, 1), hardware=hw,
                    finished=done, train_config=dataclasses.asdict(cfg), torch=torch.__version__)

    def export_now(stage, step: int, seconds: float) -> None:
        S = stage.S
        was = S.training
        save_model(export, S.eval(), student, kind="generator", meta=meta_of(step, seconds, False))
        S.train(was)

    bank = frame_bank(data, "train", not args.quiet)
    lm = label_bank(data, "train", "landmarks") if args.face_weight > 0 else None
    S, summary = distill(T, E, bank, student, out, cfg, time_limit_s=args.minutes * 60 if args.minutes else None,
                         progress=not args.quiet, device=dev, on_checkpoint=export_now,
                         ckpt_every=args.ckpt_every if args.ckpt_every != 500 else 250, landmarks=lm, init=init)
    meta = meta_of(summary["step"], summary["seconds"], summary["done"], summary["images_per_s"])
    try:
        held = frame_bank(data, "val", False)
    except StyletalkerError:                                       # no validation split: report on training frames
        held = bank
    meta.update(fidelity(S, T.cpu(), held, E))
    save_model(export, S, student, kind="generator", meta=meta)
    state = "finished" if summary["done"] else "stopped at the time limit (run again to resume)"
    print(f"{state}: {summary['step']} steps in {summary['seconds']:.0f} s on {hw}; held-out PSNR to the teacher "
          f"{meta['psnr_to_teacher']} dB (to the real frames {meta['psnr_to_real']} dB, the teacher's "
          f"{meta['teacher_psnr_to_real']} dB); student written to {export}.safetensors (+ .json); "
          f"checkpoints in {out}")


def _config_overrides(pairs: list[str], cls, flag: str = "--set", only: tuple = (bool, int, float, str)) -> dict:
    """FIELD=VALUE strings -> {field: value} typed like the dataclass cls's defaults, with clear errors (fields of
    other types than ``only``, such as tuples, are refused)."""
    defaults = cls()
    fields = [f.name for f in dataclasses.fields(cls) if type(getattr(defaults, f.name)) in only]
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in fields:
            raise StyletalkerError(f"{flag} {pair!r}: expected FIELD=VALUE with FIELD one of {', '.join(fields)}")
        kind = type(getattr(defaults, name))
        try:
            out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError:
            raise StyletalkerError(f"{flag} {pair!r}: {value!r} is not a valid {kind.__name__}") from None
    return out


def cmd_sample(args) -> None:
    """Write N generator samples as PNG files, one seed per sample."""
    import io

    import torch
    from PIL import Image

    from .data.format import atomic_write_bytes
    from .gan.generator import to_uint8
    from .gan.weights import load_generator
    if args.n < 1:
        raise StyletalkerError(f"--n {args.n}: ask for at least one sample")
    if not 0 <= args.truncation <= 2:
        raise StyletalkerError(f"--truncation {args.truncation} must be within 0..2 (1 = none, 0.7 typical)")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise StyletalkerError(f"{out} exists and is not a folder: choose another -o path")
    out.mkdir(parents=True, exist_ok=True)
    G = load_generator(args.weights)
    for a in range(0, args.n, 32):
        seeds = range(args.seed + a, args.seed + min(a + 32, args.n))
        with torch.no_grad():
            imgs = to_uint8(G.synthesis(G.ws_for_seeds(seeds, psi=args.truncation)))
        for seed, img in zip(seeds, imgs):
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            atomic_write_bytes(out / f"seed{seed:05d}.png", buf.getvalue())
    print(f"wrote {args.n} samples to {out} (seeds {args.seed}..{args.seed + args.n - 1}, "
          f"truncation {args.truncation})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="styletalker", description="StyleTalker reproduction: one-shot audio-driven "
                                "talking heads ('styletalker demo', 'styletalker generate'), the synthetic "
                                "talking-head world they are trained on, its datasets and the training commands.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    s.add_argument("-o", "--out", default=str(pathlib.Path("out") / "demo.mp4"), help="output mp4 (default "
                   "out/demo.mp4; its folder is created)")
    s.add_argument("--grid", default=None, help="contact-sheet PNG (default: OUT's name + _grid.png)")
    s.add_argument("--seed", type=int, default=0, help="seed of the sampled head motion")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("world-demo", help=cmd_world_demo.__doc__, description=cmd_world_demo.__doc__)
    s.add_argument("-o", "--out", help="output mp4 (default out/demo_world.mp4)")
    s.set_defaults(func=cmd_world_demo)

    s = sub.add_parser("world", help=cmd_world.__doc__, description=cmd_world.__doc__)
    s.add_argument("--text", required=True, help="what the face says")
    s.add_argument("--voice", default="en-us+m3", help="espeak voice (see 'styletalker voices')")
    s.add_argument("--style", default="nodding", help="speaking style: nodding, turning or still")
    s.add_argument("--identity", type=int, default=0, help="seed of the identity")
    s.add_argument("--seed", type=int, default=0, help="seed of head motion and blinks")
    s.add_argument("--rate", type=int, default=160, help="speech rate, words per minute (80..450)")
    s.add_argument("--pitch", type=int, default=50, help="voice pitch (0..100)")
    s.add_argument("--resolution", type=int, default=256, help="frame side in pixels")
    s.add_argument("-o", "--out", required=True, help="output mp4")
    s.set_defaults(func=cmd_world)

    s = sub.add_parser("data", help=cmd_data.__doc__, description=cmd_data.__doc__)
    s.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default $STYLETALKER_PROFILE "
                   "or default)")
    s.add_argument("--out", required=True, help="dataset folder (resumes if it exists)")
    s.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_data)

    s = sub.add_parser("prepare", help=cmd_prepare.__doc__, description=cmd_prepare.__doc__)
    s.add_argument("src", help="folder of mp4 clips: SRC/<identity>/[<video>/]<clip>.mp4")
    s.add_argument("dst", help="output dataset folder")
    s.add_argument("--resolution", type=int, default=64, help="crop side in pixels")
    s.add_argument("--seed", type=int, default=0, help="seed of the identity split")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_prepare)

    s = sub.add_parser("features", help=cmd_features.__doc__, description=cmd_features.__doc__)
    s.add_argument("audio", help="WAV, FLAC, OGG or MP3 file")
    s.add_argument("-o", "--out", required=True, help="output .npy")
    s.set_defaults(func=cmd_features)

    s = sub.add_parser("voices", help=cmd_voices.__doc__, description=cmd_voices.__doc__)
    s.set_defaults(func=cmd_voices)

    s = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__)
    s.add_argument("stage", help=f"what to train: {', '.join(TRAIN_STAGES)}")
    s.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default $STYLETALKER_PROFILE "
                   "or default)")
    s.add_argument("--data", default=None, help="dataset folder (default: data/cache/<profile>, built if missing)")
    s.add_argument("--out", default=None, help="checkpoint folder (default out/train/<stage>_<profile>); "
                   "an existing one is resumed")
    s.add_argument("--export", default=None, help="where to write the trained model (NAME -> NAME.safetensors "
                   "+ NAME.json; default inside --out)")
    s.add_argument("--kimg", type=float, default=None, help="training length in thousands of images")
    s.add_argument("--batch", type=int, default=None, help="images per step")
    s.add_argument("--steps", type=int, default=None, help="training length in optimiser steps (encoder, sync, "
                   "evaluator)")
    s.add_argument("--r1-gamma", type=float, default=None, help="R1 weight (generator)")
    s.add_argument("--seed", type=int, default=None, help="training seed")
    s.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    s.add_argument("--device", default="auto", help="auto, cpu or cuda")
    s.add_argument("--baseline", action="store_true", help="generator: train the baseline without filtered "
                   "non-linearities")
    s.add_argument("--generator", default=None, help="encoder: the frozen generator to invert; distill: the "
                   "teacher; talker: the renderer of its image terms (default: the shipped one, or "
                   "out/train/generator_<profile>; talker: generation's renderer, generator_default_detail)")
    s.add_argument("--encoder", default=None, help="detail: the encoder to fine-tune with G; distill: the encoder "
                   "whose codes are distilled; talker: the encoder of its code bank (default: generation's, "
                   "encoder_default_detail); prior: the "
                   "same (default: the one the base talker was trained with)")
    s.add_argument("--no-sync", action="store_true", help="talker: train without the lip-sync loss (the ablation)")
    s.add_argument("--prior", default=None, choices=["flow", "gaussian"], help="prior: which motion prior to fit "
                   "(default flow)")
    s.add_argument("--talker", default=None, help="prior: the trained talker whose posterior is frozen (default "
                   "out/train/talker_<profile>/talker_<profile>)")
    s.add_argument("--target", default="mean", choices=["mean", "sample"], help="prior: fit the posterior's mean "
                   "trajectory (default; smooth samples) or samples m ~ q (the ELBO's KL term)")
    s.add_argument("--absolute", action="store_true", help="prior: model m_t itself, not its step from "
                   "(1 - k) m_(t-1) with a learnt pull k (the session-9 prior)")
    s.add_argument("--raw-inputs", action="store_true", help="prior: the GRU reads m_(t-1), a_t and e_ref as they "
                   "are, without the last step m_(t-1) - m_(t-2) and without standardising them (the priors before "
                   "session 17)")
    s.add_argument("--style-dim", type=int, default=0, help="prior: dimensions of a per-sample style latent the "
                   "GRU reads, drawn once per video (default 0: none; styletalker/talker/prior.py)")
    s.add_argument("--noise-context", default="history", choices=["history", "style"], help="prior: what each "
                   "frame's noise (scale and flow) reads: the GRU state h_t (default, issue 7's) or only the audio, "
                   "the identity and the style latent (styletalker/talker/prior.py)")
    s.add_argument("--init", default=None, help="generator: start G from this saved generator (fresh D; "
                   "fine-tuning); distill: continue from this student instead of pruning the teacher; sync, "
                   "evaluator: fine-tune this saved network")
    s.add_argument("--dsync", default=None, help="talker: the D_sync of its lip-sync loss (default: "
                   "dsync_default_talking for the default profile, D_sync fine-tuned on the talking pair's "
                   "inversions; else the profile's D_sync)")
    s.add_argument("--scheme", default="adversarial", choices=["adversarial", "recon"],
                   help="adversarial (StyleGAN losses) or recon (G as an autoencoder's decoder, then the mapping "
                   "fitted to the codes; for CPU budgets)")
    s.add_argument("--face-weight", type=float, default=0.0, help="generator --scheme recon, distill: extra loss "
                   "weight at the inner-face landmarks (eyes, brows, lips; 0 = plain L1)")
    s.add_argument("--closed-eyes", type=float, default=0.0, metavar="SHARE", help="generator --scheme recon, "
                   "encoder, detail: draw this share of each batch from frames with closed eyes (about 3 %% of the "
                   "world's frames; e.g. 0.2), so that blinks are learnt; 0 = uniform")
    s.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="generator: override a GeneratorConfig field of the profile (repeatable), e.g. "
                   "--set channel_base=3072 --set channel_max=192; talker: a TalkerTrainConfig field, e.g. "
                   "--set warmup=6000 (code terms only for all 6000 steps); prior: the same, e.g. --set window=64; "
                   "sync, evaluator: a SyncTrainConfig field, e.g. --set rendered=0.5 --set lr=5e-4; "
                   "distill: the student's widths (default channel_base = 2/3 of the teacher's)")
    s.add_argument("--model-set", action="append", default=[], metavar="FIELD=VALUE",
                   help="talker: override a TalkerConfig field of the profile (repeatable), e.g. --model-set "
                   "reset_mouth=true (the mouth reset; see docs/benchmarks.md, issue 6)")
    s.add_argument("--ckpt-every", type=int, default=500, help="steps between checkpoints (and exports)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help=cmd_sample.__doc__, description=cmd_sample.__doc__)
    s.add_argument("--n", type=int, default=8, help="number of samples")
    s.add_argument("--truncation", type=float, default=0.7, help="psi: 1 = no truncation, smaller = more typical")
    s.add_argument("--seed", type=int, default=0, help="seed of the first sample (sample i uses seed + i)")
    s.add_argument("--weights", default=None, help="generator NAME(.safetensors) (default: the shipped one)")
    s.add_argument("-o", "--out", required=True, help="output folder")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("invert", help="Invert a face image into the generator's W+ (encoder, optional refinement).",
                       description="Invert a face image into the generator's W+ with the shipped encoder, "
                       "optionally refined by gradient descent; writes the codes (and a reconstruction).")
    s.add_argument("image", help="input image (PNG, JPEG, ...); other sizes are resized, with a warning")
    s.add_argument("-o", "--out", required=True, help="output codes (.safetensors)")
    s.add_argument("--reconstruction", default=None, help="also write G(codes) as this PNG")
    s.add_argument("--refine-steps", type=int, default=0, help="gradient steps on W+ after the encoder (0 = none)")
    s.add_argument("--encoder", default=None, help="encoder NAME(.safetensors) (default: the shipped one)")
    s.add_argument("--generator", default=None, help="generator NAME(.safetensors) (default: the shipped one)")
    s.add_argument("--no-align", action="store_true", help="skip the dlib face crop (the image is already a "
                   "centred face crop)")
    s.set_defaults(func=lambda a: _call("styletalker.inversion.cli:invert", a))

    s = sub.add_parser("generate", help="Make a talking-head mp4 from a reference image and audio or text.",
                       description="Make a talking-head mp4 (with the audio) from one reference image and speech: "
                       "the head motion comes from --motion-video (motion-controllable mode) or is sampled from the "
                       "prior (audio-driven mode; --still keeps the head still, lips only).")
    s.add_argument("--image", required=True, help="reference face image (PNG, JPEG, ...)")
    s.add_argument("--audio", default=None, help="speech: WAV, FLAC, OGG, MP3 or a video's audio track")
    s.add_argument("--text", default=None, help="speech as text, spoken by espeak-ng (instead of --audio)")
    s.add_argument("--voice", default="en-us+f3", help="voice for --text (see 'styletalker voices')")
    s.add_argument("--motion-video", default=None, help="take the head motion and blinks from this video (looped "
                   "forwards and backwards when shorter than the audio)")
    s.add_argument("-o", "--out", required=True, help="output .mp4")
    s.add_argument("--seed", type=int, default=0, help="seed of the sampled motion")
    s.add_argument("--temperature", type=float, default=None, help="scale of the prior's spread (> 0; default: the "
                   "talker's calibrated temperature, recorded in its JSON; 1 = the prior as fitted)")
    s.add_argument("--still", action="store_true", help="no head motion: lips only")
    s.add_argument("--lip-gain", type=float, default=None, help="how wide the lips move, 0 to 4 (default: the "
                   "talker's calibrated gain, recorded in its JSON; 1 = as trained, 0 = the reference's mouth kept)")
    s.add_argument("--talker", default=None, help="talker NAME(.safetensors) (default: the shipped one)")
    s.add_argument("--encoder", default=None, help="encoder NAME (default: the shipped encoder_default_detail, "
                   "the partner of the default generator)")
    s.add_argument("--generator", default=None, help="generator NAME (default: the shipped generator_default_detail, "
                   "the distilled G_I fine-tuned with its encoder; pass both or neither)")
    s.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="rendering precision: "
                   "bf16 is up to 2.7x faster on CPUs with bfloat16 units (AVX512-BF16, AMX), slower on others; auto "
                   "(default) takes bf16 where the CPU has them and a test convolution runs faster in it, else fp32")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=lambda a: _call("styletalker.talker.cli:generate", a))

    s = sub.add_parser("evaluate", help="Score a video: 'evaluate sync VIDEO.mp4' prints LSE-D, LSE-C and the "
                       "offset.", description="Score a video with the project's metrics. 'sync': lip sync by the "
                       "independent sync evaluator (syncnet_python protocol: LSE-D, LSE-C, offset).")
    s.add_argument("metric", choices=["sync"], help="what to measure")
    s.add_argument("video", help="a 25 fps mp4 with audio (a face crop at the model's resolution, or a larger "
                   "video whose face is found by dlib)")
    s.add_argument("--audio", default=None, help="score against this audio file instead of the video's own")
    s.add_argument("--weights", default=None, help="evaluator NAME(.safetensors) (default: the shipped one)")
    s.set_defaults(func=lambda a: _call("styletalker.sync.cli:evaluate", a))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .device import keep_freed_memory
    keep_freed_memory()                                             # the CLI owns its process: see there
    try:
        if getattr(args, "profile", None) is not None:
            from .config import profile
            profile(args.profile)                                   # validates the name
        args.func(args)
    except StyletalkerError as e:
        print(f"styletalker: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("styletalker: interrupted", file=sys.stderr)
        return 130
    return 0
