"""The main command and its Python API (issue 7): ``styletalker demo``, ``styletalker generate`` and ``st.generate``.

Bad input gives one line on stderr, exit status 2 and nothing written; unusual but valid input (stereo 48 kHz MP3,
8 kHz WAV, RGBA and greyscale PNG, a 4000x3000 photo, a picture without a face) makes a video. The commands run
in-process through ``styletalker.cli.main`` so that the shipped models load once for the whole file.
"""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from styletalker.audio import save_wav
from styletalker.cli import main
from styletalker.paths import DATA_DIR, WEIGHTS_DIR

PORTRAIT = DATA_DIR / "samples" / "portrait_1.png"
shipped = pytest.mark.skipif(not all((WEIGHTS_DIR / f"{n}_default.safetensors").exists()
                                     for n in ("generator", "encoder", "talker")),
                             reason="needs the shipped generator, encoder and talker")


def speechlike(seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    """A vowel-like buzz with a syllable rhythm: float32 [N] or [N, C] at ``sr`` Hz."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 700, 1100), 1))
    x = 0.3 * x * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2) / 2.1
    return np.stack([x] * channels, 1).astype(np.float32) if channels > 1 else x.astype(np.float32)


def cli(capsys, *args):
    """Run ``styletalker ARGS`` in-process: (exit status, stdout, stderr)."""
    code = main(list(args) + ["--quiet"])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def frames_and_audio(path):
    from styletalker.videoio import read_video, read_video_audio
    frames, fps = read_video(path)
    return frames, fps, read_video_audio(path)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Test inputs in their own folder, so that the outputs' folder can be checked for stray files."""
    import soundfile

    from styletalker.videoio import ffmpeg_exe
    d = tmp_path_factory.mktemp("media")
    m = {"wav": d / "speech.wav", "wav8k": d / "speech8k.wav", "mp3": d / "stereo48k.mp3", "silent": d / "silent.wav",
         "empty": d / "empty.wav", "rgba": d / "rgba.png", "grey": d / "grey.png", "big": d / "big.jpg",
         "noface": d / "noface.png", "text": d / "notes.png", "missing": d / "missing.png"}
    save_wav(m["wav"], speechlike(0.6, 16000))
    save_wav(m["wav8k"], speechlike(0.6, 8000), 8000)
    soundfile.write(d / "stereo48k.wav", speechlike(0.6, 48000, channels=2), 48000)
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(d / "stereo48k.wav"), "-c:a",
                    "libmp3lame", "-b:a", "128k", str(m["mp3"])], check=True)
    save_wav(m["silent"], np.zeros(8000, np.float32))
    save_wav(m["empty"], np.zeros(0, np.float32))
    face = Image.open(PORTRAIT).convert("RGB")
    rgba = face.convert("RGBA")
    rgba.putalpha(Image.new("L", face.size, 200))
    rgba.save(m["rgba"])
    face.convert("L").save(m["grey"])
    big = Image.new("RGB", (4000, 3000), (90, 110, 130))
    big.paste(face.resize((2600, 2600), Image.BILINEAR), (700, 200))
    big.save(m["big"], quality=90)
    ramp = np.linspace(0, 255, 200 * 300, dtype=np.float32).reshape(200, 300)
    Image.fromarray(np.stack([ramp, ramp[::-1], 128 + 0 * ramp], -1).astype(np.uint8)).save(m["noface"])
    m["text"].write_text("this is not a picture")
    return m


def test_import_stays_light():
    r = subprocess.run([sys.executable, "-c", "import sys, styletalker as st; assert callable(st.generate); "
                        "print('torch' in sys.modules)"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


@shipped
def test_bad_input_one_line_error_nothing_written(tmp_path, media, capsys):
    img, wav, out = str(PORTRAIT), str(media["wav"]), str(tmp_path / "v.mp4")
    cases = [
        (["--image", str(media["missing"]), "--audio", wav], "does not exist"),
        (["--image", str(media["text"]), "--audio", wav], "not an image"),
        (["--image", img, "--audio", str(media["silent"])], "silent"),
        (["--image", img, "--audio", str(media["empty"])], "no samples"),
        (["--image", img, "--text", "   "], "empty"),
        (["--image", img, "--audio", wav, "--talker", "nope"], "not found"),
        (["--image", img, "--audio", wav, "--temperature", "0"], "temperature"),
        (["--image", img, "--audio", wav, "--temperature", "-1"], "temperature"),
        (["--image", img, "--audio", wav, "-o", str(tmp_path / "missing" / "v.mp4")], "does not exist"),
        (["--image", img, "--audio", wav, "-o", str(tmp_path / "v.avi")], "mp4"),
        (["--image", img], "exactly one"),
        (["--image", img, "--audio", wav, "--still", "--motion-video", wav], "exclude each other"),
        (["--image", img, "--audio", wav, "--generator", str(WEIGHTS_DIR / "generator_default")], "together"),
    ]
    for args, words in cases:
        if "-o" not in args:
            args = args + ["-o", out]
        code, _, err = cli(capsys, "generate", *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and words in lines[0], (args, err)
        assert list(tmp_path.iterdir()) == [], args


@shipped
@pytest.mark.parametrize("image,audio", [("grey", "mp3"), ("rgba", "wav8k"), ("big", "wav")])
def test_unusual_valid_input_makes_a_video_with_sound(tmp_path, media, capsys, image, audio):
    out = tmp_path / "v.mp4"
    code, stdout, err = cli(capsys, "generate", "--image", str(media[image]), "--audio", str(media[audio]),
                            "-o", str(out))
    assert code == 0, err
    frames, fps, sound = frames_and_audio(out)
    assert frames.shape == (15, 64, 64, 3) and fps == 25                     # ceil(0.6 s * 25)
    assert sound is not None and abs(len(sound) / 16000 - 0.6) < 0.1
    assert "dlib found no face" not in err                                   # the face was found, so cropped


@shipped
def test_no_face_falls_back_to_the_centred_square_with_a_warning(tmp_path, media, capsys):
    out = tmp_path / "v.mp4"
    code, _, err = cli(capsys, "generate", "--image", str(media["noface"]), "--audio", str(media["wav"]),
                       "-o", str(out), "--still")
    assert code == 0 and out.exists()
    assert "styletalker: warning: dlib found no face" in err and len(err.strip().splitlines()) == 1


@shipped
@pytest.mark.filterwarnings("ignore::styletalker.api.InputWarning")
def test_api_mirrors_the_cli(tmp_path, media):
    import styletalker as st
    audio = speechlike(0.6, 22050)
    with pytest.warns(st.InputWarning, match="cropped around the face"):
        a = st.generate(PORTRAIT, audio=audio, sample_rate=22050, seed=5, progress=False)
    b = st.generate(PORTRAIT, audio=audio, sample_rate=22050, seed=5, progress=False, out=tmp_path / "b.mp4")
    c = st.generate(PORTRAIT, audio=audio, sample_rate=22050, seed=6, progress=False)
    assert a.shape == (15, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)                 # one seed, one video
    assert frames_and_audio(tmp_path / "b.mp4")[0].shape == a.shape
    with pytest.raises(st.StyletalkerError, match="exactly one"):
        st.generate(PORTRAIT, audio=audio, text="Hello.")


@shipped
@pytest.mark.filterwarnings("ignore::styletalker.api.InputWarning")
def test_bf16_rendering_is_close_to_fp32_and_bad_precision_is_refused():
    import torch

    import styletalker as st
    from styletalker.gan.generator import synthesize
    from styletalker.gan.weights import load_generator
    from styletalker.imagemetrics import psnr
    G = load_generator()
    ws = G.sample_ws(4, psi=0.7, seed=1)
    a, b = synthesize(G, ws), synthesize(G, ws, "bf16")
    assert b.dtype == torch.float32 and not torch.equal(a, b)                  # really another precision
    assert psnr(b.clamp(-1, 1), a.clamp(-1, 1)).min() > 40                   # measured 48 dB
    audio = speechlike(0.6, 16000)
    f32 = st.generate(PORTRAIT, audio=audio, seed=5, progress=False, precision="fp32")
    f16 = st.generate(PORTRAIT, audio=audio, seed=5, progress=False, precision="bf16")
    assert f32.shape == f16.shape and np.abs(f32.astype(int) - f16.astype(int)).mean() < 2
    with pytest.raises(st.StyletalkerError, match="precision"):
        st.generate(PORTRAIT, audio=audio, precision="fp16")


def test_auto_precision_follows_the_cpu_flags(tmp_path, monkeypatch):
    from styletalker.gan import generator as gen
    with_bf16, without = tmp_path / "a", tmp_path / "b"
    with_bf16.write_text("processor : 0\nflags : fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n")
    without.write_text("processor : 0\nflags : fpu sse2 avx2 avx512f\n")
    assert gen.cpu_has_bf16.__wrapped__(str(with_bf16)) and not gen.cpu_has_bf16.__wrapped__(str(without))
    assert not gen.cpu_has_bf16.__wrapped__(str(tmp_path / "missing"))        # other systems: never guessed
    for has, faster, expected in ((True, True, "bf16"), (True, False, "fp32"), (False, True, "fp32")):
        monkeypatch.setattr(gen, "cpu_has_bf16", lambda has=has: has)
        monkeypatch.setattr(gen, "bf16_is_faster", lambda faster=faster: faster)   # units that run slower: fp32
        assert gen.resolve_precision("auto") == expected
        assert gen.resolve_precision("auto", "meta") == "fp32"                 # not a CPU: fp32
        assert gen.resolve_precision("fp32") == "fp32" and gen.resolve_precision("bf16") == "bf16"
    with pytest.raises(gen.StyletalkerError, match="choose one of fp32, bf16, auto"):
        gen.resolve_precision("fp16")


@shipped
def test_demo_writes_the_video_and_its_contact_sheet(tmp_path, capsys):
    out, grid = tmp_path / "sub" / "demo.mp4", tmp_path / "sub" / "demo_grid.png"
    code, stdout, err = cli(capsys, "demo", "-o", str(out))
    assert code == 0, err
    frames, fps, sound = frames_and_audio(out)
    assert fps == 25 and frames.shape[1:] == (64, 64, 3) and sound is not None
    assert abs(len(frames) / 25 - len(sound) / 16000) < 0.1                  # the whole sentence, with sound
    sheet = np.asarray(Image.open(grid))
    assert sheet.shape[0] > 200 and sheet.shape[1] > 600 and str(grid) in stdout
