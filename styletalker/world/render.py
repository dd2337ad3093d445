"""The renderer of the synthetic world: identity + per-frame state -> RGB frames and ground-truth landmarks.

Batched over frames, pure torch (CPU or CUDA), anti-aliased by :mod:`styletalker.world.raster`. Layers are painted
back to front (background, hair behind, shoulders, neck, ears, face, features, hair in front) with simple shading
(a radial fall-off on the skin, eye sockets, the shadow under the nose) so that dlib's HOG face detector and its
68-point landmark model work on the frames. Our own construction (DESIGN.md section 2).
"""
from __future__ import annotations

import numpy as np
import torch

from . import head as H
from .raster import ellipse, rasterize, rasterize_windowed, smooth_closed, smooth_open, stroke


def _hsv(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV in [0, 1] to RGB: [B] x3 -> [B, 3]."""
    k = torch.stack([torch.full_like(h, 5.0), torch.full_like(h, 3.0), torch.full_like(h, 1.0)], -1)
    k = (k + 6 * h[:, None]) % 6
    return v[:, None] - v[:, None] * s[:, None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def _palette(t: torch.Tensor, colors: list) -> torch.Tensor:
    """Piecewise-linear palette lookup: t [B] in [0, 1] -> [B, 3]."""
    pal = torch.tensor(colors, dtype=torch.float32)
    x = t.clamp(0, 1) * (len(colors) - 1)
    i = x.floor().long().clamp(max=len(colors) - 2)
    w = (x - i)[:, None]
    return pal[i] * (1 - w) + pal[i + 1] * w


SKIN = [[0.97, 0.82, 0.72], [0.90, 0.70, 0.56], [0.76, 0.55, 0.40], [0.55, 0.37, 0.25], [0.36, 0.23, 0.15]]
HAIR = [[0.07, 0.06, 0.05], [0.22, 0.14, 0.08], [0.42, 0.27, 0.14], [0.58, 0.25, 0.10], [0.80, 0.66, 0.40],
        [0.70, 0.70, 0.68]]
IRIS = [[0.25, 0.45, 0.70], [0.30, 0.50, 0.35], [0.45, 0.30, 0.15], [0.20, 0.12, 0.07]]


def identity_colors(identity: torch.Tensor) -> dict[str, torch.Tensor]:
    """Colours of every part for each identity: name -> [B, 3] in [0, 1]."""
    f = lambda name: H.factor(identity, name)                      # noqa: E731
    skin = _palette(f("skin_tone"), SKIN)
    skin = skin * torch.stack([1 + 0.05 * f("skin_warmth"), torch.ones_like(f("skin_warmth")),
                               1 - 0.08 * f("skin_warmth")], -1)
    hair = _palette(f("hair_color"), HAIR)
    lips = torch.lerp(skin * 0.78, torch.tensor([0.72, 0.28, 0.30]).expand_as(skin),
                      (0.25 + 0.45 * f("lip_color"))[:, None])
    return dict(
        skin=skin.clamp(0, 1),
        hair=hair,
        brow=torch.lerp(hair, torch.full_like(hair, 0.08), (0.4 + 0.5 * f("brow_color"))[:, None]),
        iris=_palette(f("eye_color"), IRIS),
        lips=lips.clamp(0, 1),
        clothes=_hsv(f("clothes_hue"), 0.25 + 0.5 * f("clothes_value"), 0.25 + 0.6 * f("clothes_value")),
        bg=_hsv(f("bg_hue"), 0.15 + 0.25 * f("bg_value"), 0.35 + 0.55 * f("bg_value")),
    )


def render(identity: torch.Tensor, frame: dict[str, torch.Tensor], resolution: int = 64,
           ss: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Render a batch of frames.

    identity: [B, N_FACTORS] in [0, 1]; frame: FRAME_FIELDS -> [B] (see :mod:`styletalker.world.head`).
    Returns images [B, 3, R, R] in [0, 1] and landmarks [B, 68, 2] in dlib pixel coordinates (pixel centres at
    integers, i.e. the continuous position minus 0.5).
    """
    b, r = identity.shape[0], resolution
    assert identity.shape == (b, H.N_FACTORS), identity.shape
    frame = {k: frame[k].to(torch.float32).reshape(b) for k in H.FRAME_FIELDS}
    col = identity_colors(identity)
    shape = H.head_shape(identity, frame)
    proj = lambda pts: H.project(pts, frame, r)                   # noqa: E731
    lm = proj(shape.landmarks)                                    # [B, 68, 2]
    ppu = (H.HEAD_SIZE * r * frame["scale"])[:, None]             # pixels per head unit [B, 1]

    ys = torch.arange(r, dtype=torch.float32) + 0.5
    yy, xx = ys.view(1, r, 1), ys.view(1, 1, r)
    # Background: a vertical gradient with a soft light spot.
    img = col["bg"][:, :, None, None] * (1.1 - 0.35 * yy / r).unsqueeze(1)
    img = img.expand(b, 3, r, r).clone()

    def paint(alpha, color, shade=None):
        nonlocal img
        c = color[:, :, None, None]
        if shade is not None:
            c = c * shade.unsqueeze(1)
        a = alpha.unsqueeze(1)
        img = img + a * (c - img)

    big = lambda poly: rasterize(poly, r, r, ss)                  # noqa: E731
    small = lambda poly: rasterize_windowed(poly, r, r, ss)       # noqa: E731

    # Hair behind the head.
    paint(big(smooth_closed(proj(shape.hair_back), 2)), col["hair"] * 0.85)

    # Shoulders and neck: the body follows the head's translation by half.
    bx = (0.5 * r + 0.5 * frame["tx"])[:, None]
    sy = (H.EYE_LINE * r + 0.6 * frame["ty"])[:, None] + 1.75 * ppu
    sh = torch.tensor([[-2.3, 2.0], [-2.1, 0.45], [-1.75, 0.12], [-0.9, -0.03], [0.0, -0.05], [0.9, -0.03],
                       [1.75, 0.12], [2.1, 0.45], [2.3, 2.0]])
    torso = torch.stack([bx + sh[:, 0] * ppu, sy + sh[:, 1] * ppu], -1)
    neck_top = proj(shape.neck_top)                               # [B, 2, 2]
    neck = torch.cat([neck_top, torch.stack([bx + 0.55 * ppu, sy + 0.15 * ppu], -1),
                      torch.stack([bx - 0.55 * ppu, sy + 0.15 * ppu], -1)], 1)
    neck = neck[:, [0, 3, 2, 1]]
    paint(big(neck), col["skin"] * 0.72)
    paint(big(torso), col["clothes"])
    collar = torch.stack([bx + torch.tensor([-0.6, 0.0, 0.6]) * ppu, sy + torch.tensor([-0.03, 0.55, -0.03]) * ppu], -1)
    paint(small(collar), col["skin"] * 0.7)

    # Ears, then the face with a radial fall-off of light.
    for i in range(2):
        ear = ellipse(proj(shape.ears[:, i:i + 1])[:, 0], shape.ear_axes * ppu, n=12)
        paint(small(ear), col["skin"] * 0.85)
    face = torch.cat([proj(smooth_open(shape.landmarks[:, 0:17], 2)), proj(shape.forehead)], 1)
    centre = lm[:, 29]                                            # shading centred between eyes and mouth
    half = (lm[:, 16] - lm[:, 0]).norm(dim=-1).clamp(min=1.0)[:, None, None] / 2
    rad2 = ((xx - centre[:, 0, None, None] - 0.5) ** 2 + (yy - centre[:, 1, None, None] - 0.5) ** 2) / half ** 2
    light = 1.04 - 0.28 * rad2.clamp(max=1.6) + 0.06 * (xx - centre[:, 0, None, None]) / half
    paint(big(face), col["skin"], light)

    # Eye sockets and the nose's side shadow give the face the dark-light pattern a face detector looks for.
    for lo, hi in ((36, 42), (42, 48)):
        c = lm[:, lo:hi].mean(1)
        w = (lm[:, lo + 3] - lm[:, lo]).norm(dim=-1)
        paint(small(ellipse(c - torch.stack([torch.zeros_like(w), 0.12 * w], -1),
                            torch.stack([0.85 * w, 0.45 * w], -1), n=14)) * 0.5, col["skin"] * 0.68)
    nose_side = torch.cat([lm[:, 27:31], lm[:, [33, 32, 31]]], 1)
    paint(small(nose_side) * 0.5, col["skin"] * 0.78)
    under = ellipse(lm[:, 33] + torch.stack([torch.zeros(b), 0.05 * ppu[:, 0]], -1),
                    torch.stack([0.18 * ppu[:, 0], 0.05 * ppu[:, 0]], -1), n=12)
    paint(small(under) * 0.6, col["skin"] * 0.6)

    # Eyes: white, iris clipped to the opening, pupil, and a dark upper lid line.
    for lo in (36, 42):
        pts = lm[:, lo:lo + 6]
        opening = small(smooth_closed(pts, 3))
        paint(opening, torch.tensor([0.93, 0.91, 0.88]).expand(b, 3))
        w = (pts[:, 3] - pts[:, 0]).norm(dim=-1)
        c = pts.mean(1)
        iris = ellipse(c, torch.stack([0.28 * w, 0.28 * w], -1), n=14)
        paint(small(iris) * opening, col["iris"])
        pupil = ellipse(c, torch.stack([0.12 * w, 0.12 * w], -1), n=10)
        paint(small(pupil) * opening, torch.full((b, 3), 0.04))
        upper = pts[:, :4]                                        # corner, upper lid, corner
        lid = stroke(smooth_open(upper, 3), 0.035 * ppu.expand(b, 10) * torch.tensor([0.6] + [1.0] * 8 + [0.6]))
        paint(small(lid), col["brow"] * 0.5)

    # Brows: tapered bands along landmarks 17-21 and 22-26.
    for lo in (17, 22):
        line = smooth_open(lm[:, lo:lo + 5], 2)                   # [B, 9, 2]
        taper = torch.tensor([0.7, 0.85, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.85]) if lo == 17 else \
            torch.tensor([0.85, 0.95, 1.0, 1.0, 1.0, 1.0, 1.0, 0.85, 0.7])
        paint(small(stroke(line, shape.brow_width[:, None] * ppu * taper)), col["brow"])

    # Nostrils.
    for i in (32, 34):
        paint(small(ellipse(lm[:, i], torch.stack([0.05 * ppu[:, 0], 0.028 * ppu[:, 0]], -1), n=10)) * 0.8,
              col["skin"] * 0.35)

    # Mouth: lips, the dark inside (near black, as a shadowed mouth is), a narrow band of upper teeth, and the line
    # between the lips. Brighter or taller teeth make dlib take their edge for the inner lip.
    paint(small(smooth_closed(lm[:, 48:60], 2)), col["lips"])
    inner = small(smooth_closed(lm[:, 60:68], 2))
    paint(inner, torch.tensor([0.06, 0.02, 0.02]).expand(b, 3))
    top = lm[:, 60:65]
    teeth = torch.cat([top, top.flip(1) + torch.stack([torch.zeros(b), 0.03 * ppu[:, 0]], -1)[:, None]], 1)
    paint(small(teeth) * inner * 0.35, torch.tensor([0.92, 0.90, 0.84]).expand(b, 3))
    seam = stroke(smooth_open(lm[:, [60, 61, 62, 63, 64]], 2), 0.025 * ppu.expand(b, 9))
    paint(small(seam) * 0.8, col["lips"] * 0.45)

    # Hair over the skull.
    paint(big(smooth_closed(proj(shape.hair_cap), 2)), col["hair"])
    return img.clamp(0, 1), lm - 0.5


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] in [0, 1] -> uint8 numpy [B, H, W, 3]."""
    return (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
