"""A batched, anti-aliased polygon rasteriser in pure torch (CPU and CUDA).

Every shape of the synthetic world (face outline, eyes, lips, hair, ...) is a closed polygon in pixel coordinates.
Coverage is computed the way font rasterisers do it, with a signed accumulation buffer:

* each sub-row (``ss`` per pixel row, for vertical anti-aliasing) is crossed by the polygon's edges at ``x_c``;
  an edge going down adds +1 to the winding number right of ``x_c``, an edge going up adds -1;
* the step at ``x_c`` is box-filtered over one pixel: pixel ``i = floor(x_c)`` gets ``1 - frac(x_c)`` and pixel
  ``i + 1`` the rest, written as a difference buffer with ``scatter_add``;
* a cumulative sum along x turns the differences into the winding number, ``clamp(|w|, 0, 1)`` is the non-zero
  fill rule, and the mean over sub-rows is the pixel's coverage.

The cost is O(edges x rows + pixels) per shape instead of O(edges x pixels) for a signed distance field, which is
what makes ~1000 frames/s at 64 px possible on two CPU cores. Pixel ``j`` covers ``[j, j + 1)``: its centre is
at ``j + 0.5``.
"""
from __future__ import annotations

import math

import torch


def rasterize(polys: torch.Tensor, height: int, width: int, ss: int = 4) -> torch.Tensor:
    """Coverage of closed polygons.

    polys: [..., N, 2] vertices (x, y) in pixels; the last vertex connects back to the first. Pad a polygon with
        fewer vertices by repeating its last vertex (horizontal degenerate edges add nothing).
    Returns alpha [..., height, width] in [0, 1].
    """
    *batch, n, _ = polys.shape
    p = polys.reshape(-1, n, 2)                                   # [P, N, 2]
    q = torch.roll(p, shifts=-1, dims=1)                          # edge ends
    x0, y0, x1, y1 = p[..., 0], p[..., 1], q[..., 0], q[..., 1]   # [P, N]
    ys = (torch.arange(height * ss, dtype=p.dtype, device=p.device) + 0.5) / ss   # sub-row centres [R]
    ys = ys.view(1, -1, 1)                                        # [1, R, 1]
    y0, y1, x0, x1 = (t.unsqueeze(1) for t in (y0, y1, x0, x1))  # [P, 1, N]
    lo, hi = torch.minimum(y0, y1), torch.maximum(y0, y1)
    crosses = (ys >= lo) & (ys < hi)                              # [P, R, N]
    dy = torch.where(y1 == y0, torch.ones_like(y1), y1 - y0)
    xc = x0 + (ys - y0) * (x1 - x0) / dy                          # crossing abscissa [P, R, N]
    sign = torch.where(y1 > y0, 1.0, -1.0).to(p.dtype) * crosses  # winding step, 0 where no crossing
    xc = xc.clamp(-1.0, width + 0.0)
    i = torch.floor(xc)
    f = xc - i
    idx = (i + 1).long().clamp(0, width + 1)                      # buffer index, offset by one
    buf = torch.zeros(p.shape[0], height * ss, width + 3, dtype=p.dtype, device=p.device)
    buf.scatter_add_(2, idx, sign * (1 - f))
    buf.scatter_add_(2, idx + 1, sign * f)
    wind = torch.cumsum(buf, 2, out=buf)                          # winding number per sub-pixel [P, R, W + 3]
    cov = wind.abs_().clamp_(max=1.0)[..., 1:width + 1]           # non-zero fill rule
    cov = cov.reshape(-1, height, ss, width).sum(2).mul_(1.0 / ss)  # [P, H, W]
    return cov.view(*batch, height, width)


def ellipse(center: torch.Tensor, axes: torch.Tensor, angle: torch.Tensor | float = 0.0, n: int = 20) -> torch.Tensor:
    """Polygon approximating an ellipse.

    center: [..., 2]; axes: [..., 2] semi-axes; angle: rotation in radians ([...] or a float).
    Returns [..., n, 2].
    """
    t = torch.linspace(0, 2 * math.pi, n + 1, dtype=center.dtype, device=center.device)[:-1]
    c, s = torch.cos(t), torch.sin(t)                             # [n]
    ex = axes[..., 0:1] * c                                       # [..., n]
    ey = axes[..., 1:2] * s
    angle = torch.as_tensor(angle, dtype=center.dtype, device=center.device)
    ca, sa = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    x = center[..., 0:1] + ca * ex - sa * ey
    y = center[..., 1:2] + sa * ex + ca * ey
    return torch.stack([x, y], -1)


def smooth_closed(points: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Catmull-Rom subdivision of a closed polygon: [..., N, 2] -> [..., N * k, 2] passing through the points."""
    p0 = torch.roll(points, 1, -2)
    p1 = points
    p2 = torch.roll(points, -1, -2)
    p3 = torch.roll(points, -2, -2)
    out = []
    for j in range(k):
        t = j / k
        t2, t3 = t * t, t * t * t
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t3))
    return torch.stack(out, -2).flatten(-3, -2)


def smooth_open(points: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Catmull-Rom through an open polyline [..., N, 2] -> [..., (N - 1) * k + 1, 2] (ends kept)."""
    first = 2 * points[..., :1, :] - points[..., 1:2, :]
    last = 2 * points[..., -1:, :] - points[..., -2:-1, :]
    ext = torch.cat([first, points, last], -2)
    n = points.shape[-2]
    out = []
    for i in range(n - 1):
        p0, p1, p2, p3 = ext[..., i, :], ext[..., i + 1, :], ext[..., i + 2, :], ext[..., i + 3, :]
        for j in range(k):
            t = j / k
            out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t
                              + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(points[..., -1, :])
    return torch.stack(out, -2)


def stroke(points: torch.Tensor, width: torch.Tensor | float) -> torch.Tensor:
    """A band of the given width around an open polyline: [..., N, 2] -> closed polygon [..., 2N, 2].

    width: [..., N] (tapering allowed) or a scalar, in pixels.
    """
    d = torch.diff(points, dim=-2)
    d = torch.cat([d[..., :1, :], d], -2) + torch.cat([d, d[..., -1:, :]], -2)   # central tangent [..., N, 2]
    nrm = torch.stack([-d[..., 1], d[..., 0]], -1)
    nrm = nrm / nrm.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    w = torch.as_tensor(width, dtype=points.dtype, device=points.device)
    if w.dim() > 0:
        w = w[..., None]
    a = points + 0.5 * w * nrm
    b = points - 0.5 * w * nrm
    return torch.cat([a, b.flip(-2)], -2)


def pad_polys(polys: list[torch.Tensor]) -> torch.Tensor:
    """Stack polygons [B, N_i, 2] with different N_i into [B, S, N_max, 2] by repeating each last vertex."""
    n = max(p.shape[-2] for p in polys)
    out = []
    for p in polys:
        if p.shape[-2] < n:
            p = torch.cat([p, p[..., -1:, :].expand(*p.shape[:-2], n - p.shape[-2], 2)], -2)
        out.append(p)
    return torch.stack(out, 1)


def rasterize_windowed(polys: torch.Tensor, height: int, width: int, ss: int = 4) -> torch.Tensor:
    """Same result as :func:`rasterize` for one polygon per batch element, computed only inside a window.

    Small shapes (an eye, a nostril) cover a few rows of the frame, so each is rasterised in a window as large as its
    biggest bounding box over the batch, then pasted into the frame. polys: [B, N, 2] -> alpha [B, height, width].
    """
    b = polys.shape[0]
    lo = torch.floor(polys.amin(1)).clamp(min=0)                  # [B, 2] window origin (x, y)
    hi = torch.ceil(polys.amax(1)) + 1
    size = (hi - lo).amax(0)                                      # [2]
    ww = int(min(max(size[0].item(), 1), width))
    wh = int(min(max(size[1].item(), 1), height))
    lo[:, 0] = lo[:, 0].clamp(max=width - ww)
    lo[:, 1] = lo[:, 1].clamp(max=height - wh)
    local = rasterize(polys - lo[:, None, :], wh, ww, ss)          # [B, wh, ww]
    out = torch.zeros(b, height, width, dtype=polys.dtype, device=polys.device)
    ox, oy = lo[:, 0].long(), lo[:, 1].long()
    rows = (oy[:, None] + torch.arange(wh, device=polys.device))[:, :, None]    # [B, wh, 1]
    cols = (ox[:, None] + torch.arange(ww, device=polys.device))[:, None, :]    # [B, 1, ww]
    out[torch.arange(b, device=polys.device)[:, None, None], rows, cols] = local
    return out
