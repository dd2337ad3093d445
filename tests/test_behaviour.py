"""Speaking behaviour: visemes with the lip lead, styles of head motion, blinks independent of audio."""
import numpy as np
import pytest

from styletalker.world import behaviour as B
from styletalker.tts import Phoneme


def test_visemes_close_lips_for_bilabials_and_round_for_u():
    assert B.viseme("m")[3] == 1.0 and B.viseme("p")[0] == 0.0
    assert B.viseme("u:")[2] > 0.5 and B.viseme("i:")[2] == 0.0
    assert B.viseme("a")[0] > B.viseme("i")[0] > B.viseme("m")[0]
    assert B.viseme("_") == B._REST


def test_mouth_track_leads_the_audio():
    # One open vowel between pauses: the mouth must open LIP_LEAD_S before the vowel starts.
    ph = [Phoneme("_", 0.0, 0.4), Phoneme("a", 0.4, 0.8), Phoneme("_", 0.8, 1.2)]
    m = B.mouth_track(ph, 30, 25)
    lagged = B.mouth_track(ph, 30, 25, lead=0.0)
    jaw, jaw0 = m[:, 0], lagged[:, 0]
    half = 0.5 * jaw.max()
    t_open = np.argmax(jaw > half)
    t_open0 = np.argmax(jaw0 > half)
    assert t_open0 - t_open == round(B.LIP_LEAD_S * 25)
    assert jaw[15] > 0.7 and jaw[2] < 0.05


def _pros(n=250, seed=0):
    rng = np.random.default_rng(seed)
    e = np.abs(np.sin(np.arange(n) / 3.0)) * (rng.uniform(size=n) > 0.3)
    return dict(energy=e.astype(np.float32), onset=np.clip(np.diff(e, prepend=0), 0, None).astype(np.float32),
                pitch=rng.normal(size=n).astype(np.float32))


def test_head_motion_styles_differ():
    stats = {}
    for style in B.STYLES:
        poses = [B.head_motion(_pros(seed=s), style, np.random.default_rng(s), 64) for s in range(6)]
        assert poses[0].shape == (250, 6)
        stats[style] = np.mean([p[:, :3].std(0) for p in poses], 0)  # yaw, pitch, roll spread
    assert stats["turning"][0] > 3 * stats["still"][0]
    assert stats["nodding"][1] > 2 * stats["nodding"][0] and stats["nodding"][1] > 3 * stats["still"][1]
    with pytest.raises(ValueError):
        B.head_motion(_pros(), "dancing", np.random.default_rng(0), 64)


def test_blinks_rate_and_duration():
    rates, durs = [], []
    for s in range(40):
        eye, events = B.blinks(25 * 60, np.random.default_rng(s))
        rates.append(len(events))
        durs += [d for _, d in events]
        assert eye.shape == (1500, 2) and eye.min() >= 0 and eye.max() <= 1
        for start, d in events:                                     # each blink inside the clip closes the eyes
            i = int((start + 0.4 * d) * 25)
            if i < len(eye):
                assert eye[i].max() < 0.2
    assert 8 <= np.mean(rates) <= 27
    assert min(durs) >= 0.1 and max(durs) <= 0.25
