"""The one device helper: CUDA when asked for and present, else the CPU (everything runs on a CPU)."""
from __future__ import annotations

import torch

from .errors import StyletalkerError


def device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cpu`` / ``cuda`` / ``cuda:N`` as given (cuda must exist)."""
    if name == "auto":
        return _fast(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StyletalkerError(f"device {name!r} asked for but no CUDA GPU is available: use --device cpu")
    try:
        return _fast(torch.device(name))
    except RuntimeError as e:
        raise StyletalkerError(f"unknown device {name!r}: use auto, cpu or cuda") from e


def describe(dev: torch.device) -> str:
    """The hardware a run used, for model metadata: the GPU's name, or the CPU and its torch threads."""
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import platform
    return f"CPU ({platform.processor() or 'x86_64'}, {torch.get_num_threads()} threads)"


def _fast(dev: torch.device) -> torch.device:
    """On CUDA, allow TF32 matrix maths and cuDNN autotuning (the GPU training speeds in docs assume them)."""
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return dev
