"""Inverting images into G_I's W+: the encoder (one forward pass), and optimisation as refinement or comparison.

    invert(image)                     a photo or frame -> InversionResult (codes, reconstruction, crop, warnings)
    encode(E, images)                 a batch of uint8 or [-1, 1] images -> W+ codes
    refine(G, ws, target, steps)      gradient descent on W+ from the encoder's output (pixel MSE + (1 - SSIM))

An input is brought to the generator's frame as ``styletalker prepare`` brings video frames: dlib finds the face and
the same square crop is resized to the generator's resolution. A photo without a detectable face is not refused: its
largest centred square is used, with a warning (our documented fallback), since the user may know better than dlib.
"""
from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np
import torch

from ..checkpoint import load_model, read_model_info
from ..errors import StyletalkerError
from ..gan.weights import WEIGHTS_DIR, load_generator
from ..imagemetrics import psnr, ssim
from ..paths import talking_pair
from .encoder import Encoder, EncoderConfig
from .landmarks import LandmarkConfig, LandmarkNet

SHIPPED_ENCODER = WEIGHTS_DIR / "encoder_default"
SHIPPED_LANDMARKS = WEIGHTS_DIR / "landmarks_default"
# the encoder of the pair that video generation renders with (``paths.talking_pair``): it was fine-tuned with that
# generator, so its codes are that generator's, not the full G_I's
SHIPPED_RENDER_ENCODER = talking_pair("default")[1]


def load_encoder(path=None, expected: EncoderConfig | None = None, device="cpu") -> Encoder:
    """Load an encoder saved by ``styletalker train encoder`` (default: the shipped one for the shipped G_I)."""
    path = pathlib.Path(path) if path else SHIPPED_ENCODER
    return load_model(path, Encoder, EncoderConfig, kind="encoder", expected=expected, device=device)


def load_render_encoder(path=None, device="cpu") -> Encoder:
    """The encoder that video generation inverts the reference with: PATH, else ``SHIPPED_RENDER_ENCODER``, the
    partner of ``st.gan.weights.load_renderer()``'s generator."""
    return load_encoder(path or SHIPPED_RENDER_ENCODER, device=device)


def load_landmarks(path=None, device="cpu") -> LandmarkNet:
    path = pathlib.Path(path) if path else SHIPPED_LANDMARKS
    return load_model(path, LandmarkNet, LandmarkConfig, kind="landmarks", device=device)


def check_pair(E: Encoder, G) -> None:
    """An encoder only fits the generator it was trained against: compare sizes (and w_avg) and say so clearly."""
    if (E.cfg.resolution, E.cfg.num_ws, E.cfg.w_dim) != (G.cfg.resolution, G.num_ws, G.cfg.w_dim):
        raise StyletalkerError(f"the encoder (resolution {E.cfg.resolution}, {E.cfg.num_ws} codes of {E.cfg.w_dim}) "
                               f"does not fit the generator (resolution {G.cfg.resolution}, {G.num_ws} codes of "
                               f"{G.cfg.w_dim}): pass the encoder trained for this generator")
    if not torch.allclose(E.w_avg, G.w_avg.to(E.w_avg), atol=1e-5):
        raise StyletalkerError("the encoder was trained against another generator (its w_avg differs): retrain it "
                               "with 'styletalker train encoder' for this generator")


def _as_float(images) -> torch.Tensor:
    x = torch.as_tensor(np.array(images) if isinstance(images, np.ndarray) else images)
    if x.dtype == torch.uint8:
        if x.shape[-1] == 3:                                           # [N, H, W, 3] -> [N, 3, H, W]
            x = x.permute(0, 3, 1, 2)
        return x.float() / 127.5 - 1
    return x.float()


def encode(E: Encoder, images, batch: int = 256) -> torch.Tensor:
    """uint8 [N, 3, R, R] or [N, R, R, 3], or float [N, 3, R, R] in [-1, 1] -> W+ [N, num_ws, w_dim]."""
    x = _as_float(images)
    dev = E.w_avg.device
    with torch.no_grad():
        return torch.cat([E(x[a:a + batch].to(dev)) for a in range(0, len(x), batch)]).cpu()


def refine(G, ws: torch.Tensor, target: torch.Tensor, steps: int = 100, lr: float = 0.01, ssim_weight: float = 0.5,
           progress: bool = False) -> tuple[torch.Tensor, list[float]]:
    """Gradient descent on W+ (Adam) to reconstruct ``target`` [N, 3, R, R] in [-1, 1] from ``ws``.

    Returns the refined codes and the mean PSNR (dB) before each step and after the last."""
    from tqdm.auto import tqdm
    G.requires_grad_(False)
    ws = ws.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=lr)
    curve = []
    for _ in tqdm(range(steps), desc="refining W+", disable=not progress):
        y = G.synthesis(ws)
        loss = (y - target).pow(2).mean() + ssim_weight * (1 - ssim(y, target).mean())
        curve.append(psnr(y.detach(), target).mean().item())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        curve.append(psnr(G.synthesis(ws), target).mean().item())
    return ws.detach(), curve


def load_image(path) -> np.ndarray:
    """Any image file PIL reads (RGBA, greyscale, palette, 16-bit) -> uint8 RGB [H, W, 3]; clear errors otherwise."""
    from PIL import Image, UnidentifiedImageError
    path = pathlib.Path(path)
    if not path.exists():
        raise StyletalkerError(f"image {path} does not exist: check the path")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "P"):                         # composite transparency onto white
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, rgba)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise StyletalkerError(f"{path} is not an image PIL can read ({e.__class__.__name__}): pass a PNG or "
                               f"JPEG file") from None


def prepare_image(image: np.ndarray, resolution: int, align: bool = True, analyzer=None
                  ) -> tuple[np.ndarray, list[str]]:
    """uint8 [H, W, 3] -> (uint8 [R, R, 3] in the generator's frame, warnings)."""
    from PIL import Image

    from ..data.prepare import face_crop
    warnings = []
    if align:
        crop, found = face_crop(image, resolution, analyzer)
        if not found:
            warnings.append("dlib found no face: the largest centred square was used instead; pass a face photo, "
                            "or a crop framed like the dataset's with --no-align")
        elif image.shape[:2] != (resolution, resolution):
            warnings.append(f"the {image.shape[1]}x{image.shape[0]} image was cropped around the face and resized "
                            f"to {resolution}x{resolution}")
        return crop, warnings
    if image.shape[:2] != (resolution, resolution):
        warnings.append(f"the image is {image.shape[1]}x{image.shape[0]}, not {resolution}x{resolution}: its "
                        f"centred square was resized to {resolution}x{resolution}")
        h, w = image.shape[:2]
        s = min(h, w)
        sq = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        image = np.asarray(Image.fromarray(sq).resize((resolution, resolution), Image.LANCZOS))
    return image, warnings


@dataclasses.dataclass
class InversionResult:
    ws: torch.Tensor              # [1, num_ws, w_dim]
    reconstruction: np.ndarray    # uint8 [R, R, 3]
    crop: np.ndarray              # uint8 [R, R, 3], the image as the encoder saw it
    psnr: float                   # dB, crop against reconstruction
    seconds: float                # encoder (+ refinement) time
    warnings: list


def invert(image, E: Encoder | None = None, G=None, refine_steps: int = 0, align: bool = True,
           analyzer=None) -> InversionResult:
    """A face image (path or uint8 [H, W, 3]) -> its W+ codes under G_I, by the encoder then optional refinement."""
    from ..gan.generator import to_uint8
    G = G if G is not None else load_generator()
    E = E if E is not None else load_encoder()
    check_pair(E, G)
    from ..face import to_uint8_rgb
    img = load_image(image) if isinstance(image, (str, pathlib.Path)) else to_uint8_rgb(image)
    crop, warnings = prepare_image(img, G.cfg.resolution, align, analyzer)
    t0 = time.time()
    x = _as_float(crop[None])
    ws = encode(E, x)
    if refine_steps > 0:
        ws, _ = refine(G, ws, x, refine_steps)
    seconds = time.time() - t0
    with torch.no_grad():
        y = G.synthesis(ws)
    return InversionResult(ws=ws, reconstruction=to_uint8(y)[0], crop=crop, psnr=psnr(y, x).item(),
                           seconds=seconds, warnings=warnings)


def encoder_info(path=None) -> dict:
    return read_model_info(pathlib.Path(path) if path else SHIPPED_ENCODER)
