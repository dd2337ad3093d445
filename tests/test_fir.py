"""The numpy FIR design and polyphase resampler (styletalker.fir) against scipy.signal, which they replace on the
command line's hot path (scipy.signal takes ~0.7 s to import)."""
import numpy as np
import pytest
import scipy.signal

from styletalker import fir


@pytest.mark.parametrize("numtaps,cutoff,width,fs", [(12, 3.0, 2.5, 32.0), (6, 8.0, 10.0, 64.0), (61, 10, 30, 200),
                                                     (24, 10, 0.5, 80)])
def test_lowpass_matches_scipy_firwin(numtaps, cutoff, width, fs):
    ours = fir.lowpass(numtaps, cutoff, fs, width=width)
    assert np.allclose(ours, scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs),
                       rtol=0, atol=1e-12)
    assert ours.sum() == pytest.approx(1.0) and np.allclose(ours, ours[::-1])   # unit DC gain, linear phase
    assert np.allclose(fir.lowpass(31, 0.25, beta=5.0),
                       scipy.signal.firwin(31, 0.25, window=("kaiser", 5.0)), rtol=0, atol=1e-12)
    for bad in (dict(width=1.0, beta=5.0), {}):
        with pytest.raises(ValueError, match="exactly one"):
            fir.lowpass(11, 0.3, **bad)
    with pytest.raises(ValueError, match="cutoff"):
        fir.lowpass(11, 1.0, width=0.1)


def test_kaiser_beta_covers_the_three_ranges():
    assert fir.kaiser_beta(10) == 0.0
    assert fir.kaiser_beta(30) == pytest.approx(scipy.signal.kaiser_beta(30))
    assert fir.kaiser_beta(80) == pytest.approx(scipy.signal.kaiser_beta(80))


@pytest.mark.parametrize("up,down", [(320, 441), (441, 320), (1, 3), (2, 1), (160, 147), (3, 2), (4, 6), (5, 5)])
def test_resample_poly_matches_scipy(up, down):
    g = np.random.default_rng(up * 1000 + down)
    for n in (1, 2, 7, 1000, 9001):
        x = g.standard_normal(n)
        ours, ref = fir.resample_poly(x, up, down, block=64), scipy.signal.resample_poly(x, up, down)
        assert ours.shape == ref.shape
        assert np.allclose(ours, ref, rtol=0, atol=1e-12)


def test_resample_poly_keeps_a_tone_and_removes_what_the_new_rate_cannot_hold():
    t = np.arange(22050) / 22050
    low, high = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 9500 * t)   # past 8 kHz + transition
    y_low, y_high = fir.resample_poly(low, 320, 441), fir.resample_poly(high, 320, 441)
    assert len(y_low) == 16000
    t16 = np.arange(16000) / 16000
    assert np.abs(y_low - np.sin(2 * np.pi * 440 * t16))[200:-200].max() < 1e-3
    assert np.abs(y_high[200:-200]).max() < 1e-2                                # not aliased to 6.5 kHz
    with pytest.raises(ValueError, match="one signal"):
        fir.resample_poly(np.zeros((2, 10)), 1, 2)
