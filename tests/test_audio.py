"""Audio I/O and the log-mel front end: checked against librosa and against simple signals."""
import numpy as np
import pytest
import soundfile
import torch

from styletalker import StyletalkerError
from styletalker import audio as A

SR = 16000


def _sine(freq, n, sr=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)


def _peak_hz(x, sr):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * sr / len(x)


def _reference_signal():
    """440 Hz sine plus a click every 97 samples (broadband), 2000 samples at 16 kHz."""
    n = np.arange(2000)
    return (0.5 * np.sin(2 * np.pi * 440 * n / SR) + 0.3 * (n % 97 == 0)).astype(np.float32)


# librosa 0.11: log(max(1e-5, melspectrogram(_reference_signal(), n_fft=512, win_length=400,
# hop_length=160, n_mels=80, power=2, center=True, pad_mode='reflect', htk=False,
# norm='slaney'))), bands 0, 4, ..., 76 of mel frame 6
LIBROSA_REFERENCE = [-5.5474, -4.7352, -2.7433, 3.0077, -4.7695, -5.5887, -7.3305, -7.5740,
                     -6.1687, -4.7814, -6.7915, -5.1602, -5.2724, -5.7218, -5.4668, -5.4383,
                     -5.4068, -5.4368, -5.4386, -5.4515]


# --------------------------------------------------------------------------- mel features

def test_filterbank_peaks_sit_at_band_centres():
    cfg = A.MelConfig()
    fb = A.mel_filterbank(cfg)                                    # [M, K]
    assert fb.shape == (80, 257) and fb.dtype == torch.float32
    edges = A.mel_to_hz(np.linspace(A.hz_to_mel(0.0), A.hz_to_mel(8000.0), 82))
    centre_bins = edges[1:-1] / (SR / cfg.n_fft)
    assert np.all(np.abs(fb.argmax(1).numpy() - centre_bins) <= 1.0)
    # peak bins that librosa.filters.mel gives for rows 0, 10, 40, 79
    assert fb.argmax(1)[[0, 10, 40, 79]].tolist() == [1, 13, 55, 246]
    # Slaney normalisation: each triangle has unit area in Hz (bands wide enough to sample well)
    area = fb.sum(1).numpy() * (SR / cfg.n_fft)
    assert np.allclose(area[40:], 1.0, rtol=0.03)


def test_mel_scale_is_slaney():
    assert np.allclose(A.hz_to_mel([0.0, 1000.0, 2000.0]), [0.0, 15.0, 15 + 27 * np.log(2) / np.log(6.4)])
    f = np.array([10.0, 440.0, 999.0, 1000.0, 3000.0, 7999.0])
    assert np.allclose(A.mel_to_hz(A.hz_to_mel(f)), f)


def test_log_mel_matches_stored_librosa_values():
    mel = A.log_mel(_reference_signal())
    assert mel.shape == (80, 1 + 2000 // 160)
    assert torch.allclose(mel[::4, 6], torch.tensor(LIBROSA_REFERENCE), atol=2e-3)


def test_log_mel_matches_live_librosa():
    librosa = pytest.importorskip("librosa")
    g = np.random.default_rng(0)
    x = (0.3 * g.standard_normal(8000) + _sine(300, 8000)).astype(np.float32)
    x[3000:4000] = 0.0  # a silent stretch exercises the log floor
    ref = librosa.feature.melspectrogram(
        y=x, sr=SR, n_fft=512, win_length=400, hop_length=160, n_mels=80, power=2.0, center=True,
        pad_mode="reflect", htk=False, norm="slaney", fmin=0.0, fmax=8000.0)
    ref = np.log(np.maximum(ref, 1e-5))
    fb_ref = librosa.filters.mel(sr=SR, n_fft=512, n_mels=80, htk=False, norm="slaney")
    assert np.allclose(A.mel_filterbank().numpy(), fb_ref, atol=1e-7)
    assert np.allclose(A.log_mel(x).numpy(), ref, atol=1e-3)


def test_log_mel_batch_dims_and_inputs():
    g = np.random.default_rng(1)
    x = g.standard_normal((2, 3, 1600)).astype(np.float32) * 0.1
    out = A.log_mel(x)
    assert out.shape == (2, 3, 80, 11)                            # 100 frames/s, 1 + N // hop
    assert torch.allclose(out[1, 2], A.log_mel(torch.from_numpy(x[1, 2])), atol=1e-5)
    assert A.log_mel(np.zeros(1600, np.float32)).max() == pytest.approx(np.log(1e-5))
    with pytest.raises(StyletalkerError, match="too short"):
        A.log_mel(np.zeros(100, np.float32))


def test_log_mel_in_blocks_equals_one_pass():
    g = np.random.default_rng(2)
    x = torch.from_numpy(g.standard_normal((2, 16000 * 3 + 37)).astype(np.float32) * 0.1)
    whole = A.log_mel(x, block=10 ** 6)                           # one block
    for block in (1, 7, 100):                                     # blocks that do not divide the 301 frames
        assert torch.allclose(A.log_mel(x, block=block), whole, rtol=0, atol=1e-5)   # BLAS rounding only
    assert whole.shape == (2, 80, 301)


def test_mel_frames_for_video_alignment_and_padding():
    n_mel = 100                                                    # 1 s of mel frames
    mel = torch.arange(n_mel, dtype=torch.float32).expand(80, n_mel)  # value = mel frame index
    win = A.mel_frames_for_video(mel, n_video_frames=25)
    assert win.shape == (25, 80, 20)
    for t in [0, 1, 2, 12, 24]:
        expected = np.clip(np.arange(4 * t - 8, 4 * t + 12), 0, n_mel - 1)
        assert win[t, 0].tolist() == expected.tolist()
    # the window's centre is within half a mel hop of the video frame's centre
    centre_s = (4 * 12 - 8 + 4 * 12 + 11) / 2 / 100
    assert abs(centre_s - (12 + 0.5) / 25) <= 0.005 + 1e-9
    assert A.mel_frames_for_video(mel[None], 3).shape == (1, 3, 80, 20)  # batch dims


def test_energy_envelope_follows_loudness():
    x = np.concatenate([np.zeros(int(0.4 * SR)), _sine(200, int(0.6 * SR), amp=0.8)])
    env = A.energy_envelope(x, SR, fps=25)
    assert env.shape == (25,)
    assert np.all(env[:10] < 1e-6)
    assert np.allclose(env[11:], 0.8 / np.sqrt(2), rtol=0.02)
    assert A.energy_envelope(x, SR, fps=25, n_frames=30).shape == (30,)


# --------------------------------------------------------------------------- samples

def test_resample_keeps_frequency_and_length_ratio():
    x = _sine(440, 22050, sr=22050)
    y = A.resample(x, 22050, 16000)
    assert y.dtype == np.float32 and len(y) == 16000
    assert abs(_peak_hz(y, 16000) - 440) <= 1.0
    assert np.array_equal(A.resample(x, 22050, 22050), x)


def test_int16_round_trip_and_clipping():
    pcm = np.arange(-32767, 32768, dtype=np.int16)
    assert np.array_equal(A.float_to_int16(A.int16_to_float(pcm)), pcm)
    assert A.float_to_int16(np.array([2.0, -3.0, 0.5])).tolist() == [32767, -32767, 16384]
    assert A.int16_to_float(pcm).dtype == np.float32


# --------------------------------------------------------------------------- files

@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_load_stereo_44k_gives_mono_16k(tmp_path, fmt):
    n = 44100
    left, right = _sine(300, n, sr=44100, amp=0.6), _sine(300, n, sr=44100, amp=0.2)
    path = tmp_path / f"stereo.{fmt.lower()}"
    soundfile.write(path, np.stack([left, right], axis=1), 44100, format=fmt, subtype="PCM_16")
    x = A.load_audio(path)
    assert x.ndim == 1 and x.dtype == np.float32 and len(x) == SR
    assert abs(_peak_hz(x, SR) - 300) <= 1.0
    assert np.abs(x[1000:-1000]).max() == pytest.approx(0.4, abs=0.01)  # mean of the channels


def test_ffmpeg_decoder_reads_what_soundfile_reads(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(path, _sine(500, SR), SR, subtype="PCM_16")
    x = A._read_with_ffmpeg(path, SR)
    if x is None:
        pytest.skip("no ffmpeg executable")
    assert np.allclose(x, A.load_audio(path), atol=1e-3)


def test_load_audio_errors(tmp_path):
    with pytest.raises(StyletalkerError, match="does not exist"):
        A.load_audio(tmp_path / "missing.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x01garbage" + bytes(range(200)))
    with pytest.raises(StyletalkerError, match="cannot decode"):
        A.load_audio(corrupt)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), SR, subtype="PCM_16")
    with pytest.raises(StyletalkerError, match="no samples"):
        A.load_audio(empty)


def test_save_wav_is_16bit_and_atomic(tmp_path):
    x = _sine(250, 8000)
    path = tmp_path / "sub" / "out.wav"
    A.save_wav(path, x)
    A.save_wav(path, x)                                            # overwrite in place
    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    pcm, _ = soundfile.read(path, dtype="int16")
    assert np.array_equal(pcm, A.float_to_int16(x))
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]  # no temp file left behind
    assert np.allclose(A.load_audio(path), x, atol=1e-4)


def test_load_mp3(tmp_path):
    path = tmp_path / "tone.mp3"
    try:
        soundfile.write(path, _sine(300, 44100, sr=44100), 44100, format="MP3")
    except Exception:
        pytest.skip("this libsndfile cannot write MP3")
    x = A.load_audio(path)
    assert abs(len(x) - SR) < 0.05 * SR                            # codec padding aside
    assert abs(_peak_hz(x, SR) - 300) <= 2.0
