"""How smooth is sampled motion? Frame-to-frame step and spread of the motion codes m_t on test clips of the default set.

    python benchmarks/motion_smoothness.py TALKER ENCODER

For 8 test clips: the posterior mean m_t of the clip's Enc_I codes (motion-controllable mode) and one prior sample for
the clip's audio (audio-driven mode, temperature 1, seed 0). Prints the mean |m_t - m_(t-1)| and the norm of the per-
dimension std over the clip for both, and the mean frame-to-frame step of the Enc_I codes themselves. A prior whose
step is far above the posterior's jitters from frame to frame (session 9: 0.61 against 0.12; docs/benchmarks.md).
"""
import sys, json, torch, numpy as np
torch.set_num_threads(1)
from styletalker.talker.generate import load_talker
from styletalker.inversion.invert import load_encoder, encode
d = 'data/cache/default/.cache/test/'
idx = json.load(open(d + 'index.json')); L = np.cumsum([0] + idx['lengths'])
fr = np.load(d + 'frames.npy', mmap_mode='r'); mel = np.load(d + 'mel.npy', mmap_mode='r')
talker, enc = sys.argv[1], sys.argv[2]
T = load_talker(talker).eval(); E = load_encoder(enc).eval()
res = []
for k in range(0, 96, 12):
    a, b = L[k], L[k + 1]
    x = torch.from_numpy(np.array(fr[a:b])).permute(0, 3, 1, 2).float() / 127.5 - 1
    me = torch.from_numpy(np.array(mel[a:b]).astype(np.float32))[None]
    with torch.no_grad():
        ws = encode(E, x)[None]
        mp = T.motion_of(ws)
        mq, _ = T.prior.sample(T.audio(me), T.e_ref(ws[:, 0]), 1.0, None, torch.Generator().manual_seed(0))
    st = lambda m: (m[0, 1:] - m[0, :-1]).norm(dim=-1).mean().item()
    sd = lambda m: m[0].std(0).norm().item()
    res.append((st(mp), sd(mp), st(mq), sd(mq), (ws[0, 1:] - ws[0, :-1]).norm(dim=-1).mean().item()))
print(talker, 'posterior step / std, prior step / std, code step:', np.round(np.mean(res, 0), 3))
