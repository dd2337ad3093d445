"""The command line: help on every command, one-line errors with a non-zero exit, nothing half-written."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from styletalker.audio import save_wav
from styletalker.cli import build_parser, main

COMMANDS = ["demo", "world-demo", "world", "data", "prepare", "features", "voices", "train", "sample", "invert",
            "evaluate", "generate"]


def run(*args):
    return subprocess.run([sys.executable, "-m", "styletalker", *args], capture_output=True, text=True)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd):
    r = run(cmd, "--help")
    assert r.returncode == 0 and "usage" in r.stdout


def test_world_clip(tmp_path):
    out = tmp_path / "clip.mp4"
    r = run("world", "--text", "Good morning.", "--voice", "en+f2", "--resolution", "64", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.exists() and str(out) in r.stdout


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.wav"
    save_wav(empty, np.zeros(0, np.float32))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    return [
        (["world", "--text", "   ", "-o", str(tmp_path / "a.mp4")], "empty"),
        (["world", "--text", "hi", "--voice", "klingon", "-o", str(tmp_path / "a.mp4")], "unknown voice"),
        (["features", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "a.npy")], "does not exist"),
        (["features", str(corrupt), "-o", str(tmp_path / "a.npy")], "corrupt.wav"),
        (["features", str(empty), "-o", str(tmp_path / "a.npy")], "empty.wav"),
        (["world", "--text", "hi", "-o", str(tmp_path / "nope" / "a.mp4")], "does not exist"),
        (["data", "--profile", "huge", "--out", str(tmp_path / "ds")], "unknown profile"),
        (["train", "generator", "--face-weight", "4", "--out", str(tmp_path / "g")], "--scheme recon"),
    ]


def test_bad_input_one_line_error_nothing_written(tmp_path):
    for args, words in _bad_inputs(tmp_path):
        before = set(tmp_path.rglob("*"))
        r = run(*args)
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, (args, r.stderr)
        assert words in lines[0], (args, lines[0])
        assert set(tmp_path.rglob("*")) == before, args


def test_unwritable_output_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    import os
    if os.access(ro, os.W_OK):                                      # root ignores permissions: use /proc
        target = "/proc/styletalker-test/a.mp4"
    else:
        target = str(ro / "a.mp4")
    r = run("world", "--text", "hi", "-o", target)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1


def test_parser_lists_all_commands():
    sub = [a for a in build_parser()._actions if a.dest == "command"][0]
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_generator_config_overrides_are_typed_and_checked():
    from styletalker.cli import _config_overrides
    from styletalker.errors import StyletalkerError
    from styletalker.gan.generator import GeneratorConfig
    got = _config_overrides(["channel_base=3072", "first_cutoff=8", "filtered=false"], GeneratorConfig)
    assert got == {"channel_base": 3072, "first_cutoff": 8.0, "filtered": False}
    assert isinstance(got["channel_base"], int) and isinstance(got["first_cutoff"], float)
    with pytest.raises(StyletalkerError, match="channel_max"):              # the message lists the fields
        _config_overrides(["chanel_base=3"], GeneratorConfig)
    with pytest.raises(StyletalkerError, match="not a valid int"):
        _config_overrides(["channel_base=wide"], GeneratorConfig)


def test_train_talker_set_is_checked_before_any_work(tmp_path, capsys):
    from styletalker.cli import _config_overrides
    from styletalker.talker.train import TalkerTrainConfig
    assert _config_overrides(["warmup=6000", "sync=0.2"], TalkerTrainConfig) == {"warmup": 6000, "sync": 0.2}
    rc = main(["train", "talker", "--profile", "quick", "--data", str(tmp_path / "none"), "--set", "warmups=1",
               "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc != 0 and "warmup" in err and "Traceback" not in err
    assert not (tmp_path / "none").exists() and not (tmp_path / "run").exists()     # nothing built or written


def test_train_talker_model_set_is_checked_before_any_work(tmp_path, capsys):
    from styletalker.cli import _config_overrides
    from styletalker.errors import StyletalkerError
    from styletalker.talker.modules import TalkerConfig
    assert _config_overrides(["reset_mouth=true", "motion_dim=8"], TalkerConfig, "--model-set") == \
        {"reset_mouth": True, "motion_dim": 8}
    with pytest.raises(StyletalkerError, match="--model-set 'audio_layers=3'"):   # tuples are not settable
        _config_overrides(["audio_layers=3"], TalkerConfig, "--model-set")
    rc = main(["train", "talker", "--profile", "quick", "--data", str(tmp_path / "none"), "--model-set",
               "reset_mouths=1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc != 0 and "reset_mouth" in err and "Traceback" not in err
    assert not (tmp_path / "none").exists() and not (tmp_path / "run").exists()     # nothing built or written
    rc = main(["train", "prior", "--profile", "quick", "--data", str(tmp_path / "none"), "--model-set",
               "reset_mouth=1", "--out", str(tmp_path / "run")])                   # only the talker has one
    err = capsys.readouterr().err
    assert rc != 0 and "--model-set" in err and "Traceback" not in err and not (tmp_path / "run").exists()


def test_train_prior_set_is_checked_before_any_work(tmp_path, capsys):
    rc = main(["train", "prior", "--profile", "quick", "--data", str(tmp_path / "none"), "--set", "windows=64",
               "--talker", str(tmp_path / "talker"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc != 0 and "window" in err and "Traceback" not in err
    assert not (tmp_path / "none").exists() and not (tmp_path / "run").exists()     # nothing built or written


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_the_command_line_keeps_freed_memory_in_a_fresh_process():
    # mallopt takes effect on glibc (what the CLI relies on); a fresh process, so this one's allocator is untouched
    code = ("import ctypes, ctypes.util, sys; from styletalker.device import keep_freed_memory; "
            "glibc = 'libc.so' in (ctypes.util.find_library('c') or ''); "
            "sys.exit(0 if keep_freed_memory() == glibc else 1)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_refitted_prior_keeps_its_bases_lip_gain_but_not_its_temperature():
    from styletalker.talker.train_prior import carried_calibrations
    base = dict(lip_gain=1.4, lip_gain_calibration=dict(clips=24), temperature=0.85, steps=3000)
    assert carried_calibrations(base) == dict(lip_gain=1.4, lip_gain_calibration=dict(clips=24))
    assert carried_calibrations(dict(steps=3000)) == {}


def test_train_prior_fits_the_codes_of_the_talkers_own_encoder(tmp_path):
    from styletalker.errors import StyletalkerError
    from styletalker.talker.train_prior import talker_encoder
    repo, fallback = tmp_path / "repo", tmp_path / "shipped" / "encoder_default"
    (repo / "out").mkdir(parents=True)
    (repo / "out" / "enc.json").write_text("{}")
    (tmp_path / "mine.json").write_text("{}")
    assert talker_encoder(None, "out/enc", fallback, repo) == repo / "out" / "enc"          # recorded, repo-relative
    assert talker_encoder(None, str(tmp_path / "mine"), fallback, repo) == tmp_path / "mine"  # recorded, outside
    assert talker_encoder("given", "out/enc", fallback, repo) == pathlib.Path("given")       # --encoder wins
    assert talker_encoder(None, None, fallback, repo) == fallback                          # old talkers: the profile's
    with pytest.raises(StyletalkerError, match="--encoder"):
        talker_encoder(None, "out/gone", fallback, repo)

    def no_lookup():
        raise AssertionError("the profile's encoder was looked up although the talker names its own")
    assert talker_encoder(None, "out/enc", no_lookup, repo) == repo / "out" / "enc"
    assert talker_encoder(None, None, lambda: fallback, repo) == fallback


def test_a_train_command_given_one_model_looks_up_only_the_other(tmp_path, monkeypatch):
    # a quick run with only G_I trained: --generator names it, and the error is about the encoder it lacks
    import argparse
    from styletalker.cli import frozen_pair
    from styletalker.errors import StyletalkerError
    from styletalker.paths import talking_model
    monkeypatch.chdir(tmp_path)
    stem = tmp_path / "out" / "train" / "generator_quick" / "generator_quick"
    stem.parent.mkdir(parents=True)
    stem.with_suffix(".safetensors").write_bytes(b"")
    assert talking_model("generator", "quick") == pathlib.Path("out/train/generator_quick/generator_quick")
    assert talking_model("encoder", "default").name == "encoder_default_detail"
    args = argparse.Namespace(generator=str(tmp_path / "G"), encoder=None)
    for talking in (False, True):
        with pytest.raises(StyletalkerError, match="no quick encoder"):
            frozen_pair(args, "quick", talking=talking)
    with pytest.raises(ValueError, match="'generator' or 'encoder'"):
        talking_model("dsync", "quick")


@pytest.mark.parametrize("argv, needle", [
    (["train", "talker", "--closed-eyes", "0.2"], "does not use it"),
    (["train", "generator", "--closed-eyes", "0.2"], "--scheme adversarial"),
    (["train", "encoder", "--closed-eyes", "1.5"], "below 1"),
])
def test_closed_eyes_is_refused_where_it_means_nothing(tmp_path, capsys, argv, needle):
    rc = main(argv + ["--profile", "quick", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc != 0 and needle in err and "Traceback" not in err
    assert not (tmp_path / "none").exists() and not (tmp_path / "run").exists()     # nothing built or written
