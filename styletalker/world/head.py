"""Geometry of the synthetic head: identity factors, the 68 landmarks in 3D, expressions and the camera.

Part of the synthetic world (DESIGN.md section 2), our own construction. The head lives in "head units": x to the
image right, y down, z towards the camera; the eye line is y = 0 and the cheek half-width is about 1. The 68
landmarks follow dlib's (iBUG 300-W) order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47 (36-41 is the subject's
right eye, on the image left), outer lips 48-59, inner lips 60-67. Every drawn shape is built from these points or
from points in the same 3D frame, so the ground-truth landmarks are exactly where the renderer puts the features.

Pose convention: yaw > 0 turns the nose to the image right, pitch > 0 tilts the nose down, roll > 0 turns the head
clockwise in the image; angles in degrees. ``tx``, ``ty`` shift the head in pixels from its rest position and
``scale`` multiplies its size.
"""
from __future__ import annotations

import dataclasses
import math

import torch

# Identity factors, each a float in [0, 1]; a person is a vector of these.
IDENTITY_FACTORS = (
    "face_width", "jaw_square", "face_length", "skin_tone", "skin_warmth", "hair_length", "hair_volume",
    "hair_color", "hairline", "eye_color", "eye_size", "eye_spacing", "brow_thickness", "brow_arch", "brow_color",
    "nose_length", "nose_width", "lip_color", "lip_thickness", "mouth_width", "clothes_hue", "clothes_value",
    "bg_hue", "bg_value", "ear_size",
)
N_FACTORS = len(IDENTITY_FACTORS)

# Per-frame state: pose, eyes, brows and mouth.
FRAME_FIELDS = ("yaw", "pitch", "roll", "tx", "ty", "scale", "eye_r", "eye_l", "brow",
                "jaw_open", "width", "round", "closure")
REST_FRAME = dict(yaw=0.0, pitch=0.0, roll=0.0, tx=0.0, ty=0.0, scale=1.0, eye_r=1.0, eye_l=1.0, brow=0.0,
                  jaw_open=0.0, width=0.5, round=0.0, closure=0.0)

EYE_LINE = 0.42        # rest height of the eye line, as a fraction of the frame
HEAD_SIZE = 0.26       # pixels per head unit, as a fraction of the frame side
CAMERA_DISTANCE = 7.0  # head units; a mild perspective
PIVOT = (0.0, 0.35, -0.6)  # the head turns about a point near the top of the neck


def sample_identities(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n random identities, uniform in the factor cube: [n, N_FACTORS]."""
    return torch.rand(n, N_FACTORS, generator=generator)


def factor(identity: torch.Tensor, name: str) -> torch.Tensor:
    """One identity factor: [B, N_FACTORS] -> [B]."""
    return identity[:, IDENTITY_FACTORS.index(name)]


def rest_frames(b: int, **overrides) -> dict[str, torch.Tensor]:
    """Per-frame parameters at rest for a batch of b, with overrides (floats or [b] tensors)."""
    out = {}
    for k in FRAME_FIELDS:
        v = overrides.get(k, REST_FRAME[k])
        out[k] = torch.as_tensor(v, dtype=torch.float32).expand(b).clone()
    return out


def _face_z(x: torch.Tensor, half_width: torch.Tensor) -> torch.Tensor:
    """Depth of the face surface at abscissa x (a vertical cylinder-like ellipse)."""
    return 0.75 * torch.sqrt((1 - (x / (1.1 * half_width)) ** 2).clamp(min=0.0)) - 0.15


@dataclasses.dataclass
class HeadShape:
    """Head geometry in 3D head units for a batch: landmarks and the extra outlines the renderer draws."""
    landmarks: torch.Tensor  # [B, 68, 3]
    forehead: torch.Tensor   # [B, 9, 3]  face outline above the jaw, from the image-right side to the left
    ears: torch.Tensor       # [B, 2, 3]  ear centres (image left, image right)
    ear_axes: torch.Tensor   # [B, 2]     ear semi-axes (x, y)
    hair_back: torch.Tensor  # [B, 13, 3] hair behind the head
    hair_cap: torch.Tensor   # [B, 14, 3] hair over the skull, with the hairline as its lower edge
    neck_top: torch.Tensor   # [B, 2, 3]  where the neck leaves the head (image left, image right)
    brow_width: torch.Tensor # [B]        brow thickness in head units


def head_shape(identity: torch.Tensor, frame: dict[str, torch.Tensor]) -> HeadShape:
    """3D geometry of each head in its expression (before pose).

    identity: [B, N_FACTORS]; frame: FRAME_FIELDS -> [B]. Returns a :class:`HeadShape`.
    """
    f = lambda name: factor(identity, name)[:, None]              # noqa: E731  [B, 1]
    b = identity.shape[0]
    fw = 0.82 + 0.36 * f("face_width")                            # cheek half-width
    fl = 0.85 + 0.30 * f("face_length")                           # vertical scale below the eyes
    jaw, round_, width, closure = (frame[k][:, None] for k in ("jaw_open", "round", "width", "closure"))
    # The identity's mouth half-width: about the distance between the pupils, as in real faces. Narrower mouths (0.23 +
    # 0.12 before world revision 2) made dlib, whose shape prior is learned on real faces, misplace the lip corners.
    base_hw = 0.32 + 0.10 * f("mouth_width")
    hw = base_hw * (0.88 + 0.24 * width) * (1 - 0.15 * round_)
    # jaw_open is the mouth's aspect: the inner-lip gap over the mouth's current width (about 0.65 when wide open).
    gap = 1.3 * hw * jaw * (1 - closure)

    # Jaw 0-16: a half-ellipse from ear level to the chin, squarer for larger jaw_square.
    phi = torch.linspace(-math.pi / 2, math.pi / 2, 17)[None]     # [1, 17]
    p = 1.0 - 0.4 * f("jaw_square")
    s, c = torch.sin(phi), torch.cos(phi).clamp(min=0.0)
    jx = fw * torch.sign(s) * s.abs() ** p * (0.97 + 0.03 * c)
    chin, top = 1.21, 0.0
    jy = top + (chin - top) * c ** (0.8 + 0.4 * f("jaw_square"))
    drop = gap * torch.cos((phi * 2).clamp(-math.pi / 2, math.pi / 2)) ** 2   # the chin follows the jaw
    jy = jy + 0.9 * drop
    jz = _face_z(jx, fw) - 0.08 * c

    # Brows 17-21 (image left, outer to inner) and 22-26 (inner to outer).
    t = torch.linspace(0, 1, 5)[None]
    arch = 0.05 + 0.07 * f("brow_arch")
    bx_left = -(0.73 - 0.55 * t) * (0.9 + 0.1 * fw)
    by = -0.22 - arch * torch.sin(math.pi * (0.25 + 0.65 * t)) - 0.10 * frame["brow"][:, None]
    bx = torch.cat([bx_left, -bx_left.flip(1)], 1)
    by = torch.cat([by, by.flip(1)], 1)
    bz = _face_z(bx, fw) + 0.05

    # Nose 27-30 (bridge to tip) and 31-35 (the base, image left to right).
    nl = 0.8 + 0.4 * f("nose_length")
    nw = 0.12 + 0.12 * f("nose_width")
    zeros = torch.zeros(b, 1)
    nx = torch.cat([zeros.expand(b, 4), nw * torch.tensor([[-0.85, -0.45, 0.0, 0.45, 0.85]])], 1)
    ny = torch.cat([torch.tensor([[-0.02, 0.13, 0.28]]).expand(b, 3) * nl, 0.43 * nl,
                    torch.tensor([[0.51, 0.54, 0.56, 0.54, 0.51]]) * nl], 1)
    nz = torch.tensor([[0.62, 0.74, 0.86, 0.98, 0.72, 0.78, 0.80, 0.78, 0.72]]).expand(b, 9)

    # Eyes 36-41 (image left: outer corner, upper x2, inner corner, lower x2) and 42-47 (inner corner first).
    ecx = 0.31 + 0.18 * f("eye_spacing")
    ew = 0.14 + 0.07 * f("eye_size")
    eh = 0.085 + 0.035 * f("eye_size")

    def eye(cx, openness, outer_sign):
        lower = 0.45 * eh * (0.7 + 0.3 * openness)
        # The upper lid falls faster as the eye closes (openness ** 1.6), so an eye labelled 0.25 open shows a sliver,
        # not the iris; at 0 the upper lid meets the lower lid.
        upper = lower + (-eh - lower) * openness.clamp(min=0.0) ** 1.6
        xs = torch.cat([cx + outer_sign * ew, cx + outer_sign * ew / 3, cx - outer_sign * ew / 3,
                        cx - outer_sign * ew, cx - outer_sign * ew / 3, cx + outer_sign * ew / 3], 1)
        ys = torch.cat([0.02 * torch.ones_like(cx), upper, upper, 0.03 * torch.ones_like(cx), lower, lower], 1)
        return xs, ys

    exl, eyl = eye(-ecx, frame["eye_r"][:, None], -1.0)           # subject's right eye: outer corner first
    exr, eyr = eye(ecx, frame["eye_l"][:, None], 1.0)
    exr = torch.cat([exr[:, 3:4], exr[:, 2:3], exr[:, 1:2], exr[:, 0:1], exr[:, 5:6], exr[:, 4:5]], 1)
    eyr = torch.cat([eyr[:, 3:4], eyr[:, 2:3], eyr[:, 1:2], eyr[:, 0:1], eyr[:, 5:6], eyr[:, 4:5]], 1)
    ex, ey = torch.cat([exl, exr], 1), torch.cat([eyl, eyr], 1)
    ez = _face_z(ex, fw) - 0.03

    # Lips: 48-59 outer (left corner, upper lip to the right corner, lower lip back), 60-67 inner.
    tu = (0.055 + 0.04 * f("lip_thickness")) * (1 - 0.25 * closure)
    tl = (0.075 + 0.05 * f("lip_thickness")) * (1 - 0.25 * closure)
    my = 0.80 - 0.10 * gap
    ox = torch.tensor([[-1.0, -0.55, -0.2, 0.0, 0.2, 0.55, 1.0, 0.55, 0.2, 0.0, -0.2, -0.55]])
    up = torch.tensor([[-0.7, 0.85, 1.05, 0.85, 1.05, 0.85, -0.7]])
    low = torch.tensor([[0.9, 1.0, 1.02, 1.0, 0.9]])
    lower_open = torch.tensor([[0.75, 0.95, 1.0, 0.95, 0.75]])
    oy = torch.cat([my - tu * up, my + gap * lower_open + tl * low], 1)
    ix = torch.tensor([[-0.86, -0.42, 0.0, 0.42, 0.86, 0.42, 0.0, -0.42]]) * (1 - 0.25 * round_)
    ix = torch.where(ix.abs() > 0.5, ix, ix * (1 + 0.35 * round_))   # rounding: the opening gets circular
    iy_open = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.90, 1.0, 0.90]])
    iy = my + gap * iy_open - torch.tensor([[0.0, 0.08, 0.1, 0.08, 0.0, 0.0, 0.0, 0.0]]) * gap \
        + torch.tensor([[1.0, 0, 0, 0, 1.0, 0, 0, 0]]) * 0.6 * tu   # corners sit a little low
    mx = torch.cat([ox.expand(b, 12), ix], 1) * hw
    myy = torch.cat([oy, iy], 1)
    mz = _face_z(mx, fw) - 0.05 + 0.12 * round_ * (1 - (mx / hw).abs())

    x = torch.cat([jx, bx, nx, ex, mx], 1)
    y = torch.cat([jy, by, ny, ey, myy], 1)
    z = torch.cat([jz, bz, nz, ez, mz], 1)
    y = torch.where(y > 0, y * fl, y)                             # longer or shorter lower face
    landmarks = torch.stack([x, y, z], -1)                         # [B, 68, 3]

    # Outlines that are not landmarks, in the same frame.
    hx = torch.tensor([[1.0, 0.99, 0.93, 0.75, 0.42, 0.0, -0.42, -0.75, -0.93]])
    hy = torch.tensor([[-0.05, -0.45, -0.85, -1.15, -1.33, -1.38, -1.33, -1.15, -0.85]])
    fx = hx * fw
    fy = hy.expand(b, 9)
    forehead = torch.stack([fx, fy, _face_z(fx, fw) * 0.6], -1)

    es = f("ear_size")
    ears = torch.stack([torch.cat([-fw * 1.01, fw * 1.01], 1), 0.18 * torch.ones(b, 2), -0.35 * torch.ones(b, 2)], -1)
    ear_axes = torch.cat([0.11 + 0.05 * es, 0.22 + 0.07 * es], 1)

    hv = fw * (1.04 + 0.22 * f("hair_volume"))
    length = 0.15 + 1.65 * f("hair_length") ** 1.5                 # many short, some long
    ax = torch.tensor([[-1.0, -1.0, -0.95, -0.68, -0.3, 0.0, 0.3, 0.68, 0.95, 1.0, 1.0]])
    ay = torch.tensor([[0.0, -0.5, -0.95, -1.38, -1.6, -1.64, -1.6, -1.38, -0.95, -0.5, 0.0]])
    arc_x, arc_y = ax * hv, ay * (0.97 + 0.06 * f("hair_volume"))
    back_x = torch.cat([arc_x, 0.92 * hv, -0.92 * hv], 1)
    back_y = torch.cat([arc_y[:, :1] + length, arc_y[:, 1:-1], arc_y[:, -1:] + length, length + 0.1, length + 0.1], 1)
    hair_back = torch.stack([back_x, back_y, -0.55 * torch.ones_like(back_x)], -1)

    hl = -1.12 + 0.42 * f("hairline")                               # hairline height at the centre
    cap_out_x = torch.tensor([[-1.02, -1.0, -0.95, -0.68, -0.3, 0.0, 0.3, 0.68, 0.95, 1.0, 1.02]]) * hv
    cap_out_y = torch.tensor([[-0.05, -0.5, -0.95, -1.38, -1.6, -1.64, -1.6, -1.38, -0.95, -0.5, -0.05]])
    cap_out_y = cap_out_y * (0.97 + 0.06 * f("hair_volume"))
    in_x = torch.tensor([[0.98, 0.55, -0.55]]) * fw
    in_y = torch.cat([-0.25 + 0 * hl, hl + 0.05, hl], 1)
    cap_x = torch.cat([cap_out_x, in_x], 1)
    cap_y = torch.cat([cap_out_y.expand(b, 11), in_y], 1)
    cap_z = torch.cat([0.1 * torch.ones(b, 11), torch.full((b, 3), 0.45)], 1)
    hair_cap = torch.stack([cap_x, cap_y, cap_z], -1)

    neck_top = torch.stack([torch.cat([-0.5 * fw, 0.5 * fw], 1), 0.75 * torch.ones(b, 2), -0.4 * torch.ones(b, 2)], -1)
    brow_width = (0.045 + 0.05 * f("brow_thickness"))[:, 0]
    return HeadShape(landmarks, forehead, ears, ear_axes, hair_back, hair_cap, neck_top, brow_width)


def rotation(frame: dict[str, torch.Tensor]) -> torch.Tensor:
    """Head rotation matrices R = Rz(roll) Ry(yaw) Rx(pitch): [B, 3, 3]."""
    y, p, r = (torch.deg2rad(frame[k]) for k in ("yaw", "pitch", "roll"))
    o, z = torch.ones_like(y), torch.zeros_like(y)
    rx = torch.stack([o, z, z, z, torch.cos(p), -torch.sin(p), z, torch.sin(p), torch.cos(p)], -1).view(-1, 3, 3)
    ry = torch.stack([torch.cos(y), z, torch.sin(y), z, o, z, -torch.sin(y), z, torch.cos(y)], -1).view(-1, 3, 3)
    rz = torch.stack([torch.cos(r), -torch.sin(r), z, torch.sin(r), torch.cos(r), z, z, z, o], -1).view(-1, 3, 3)
    # Ry maps +z (the nose) to +x for yaw > 0; Rx maps +z to +y (down) for pitch > 0.
    rx = rx.transpose(1, 2)
    return rz @ ry @ rx


def project(points: torch.Tensor, frame: dict[str, torch.Tensor], resolution: int) -> torch.Tensor:
    """Pose and project head points to continuous pixel coordinates (pixel j covers [j, j + 1)).

    points: [B, N, 3] in head units -> [B, N, 2] in pixels.
    """
    pivot = torch.tensor(PIVOT)
    rot = rotation(frame)
    q = (points - pivot) @ rot.transpose(1, 2) + pivot             # [B, N, 3]
    persp = CAMERA_DISTANCE / (CAMERA_DISTANCE - q[..., 2])
    ppu = (HEAD_SIZE * resolution * frame["scale"])[:, None]
    cx = (0.5 * resolution + frame["tx"])[:, None]
    cy = (EYE_LINE * resolution + frame["ty"])[:, None]
    return torch.stack([cx + ppu * q[..., 0] * persp, cy + ppu * q[..., 1] * persp], -1)
