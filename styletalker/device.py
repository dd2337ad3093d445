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


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the OS at once.

    Rendering allocates and frees the same large tensors frame after frame. By default glibc serves each one with
    a fresh mmap and unmaps it when freed, so every frame pays page faults for memory it just gave back: on the
    2-core CPU, 2.3-2.7 s of system time in the 20 s of CPU time ``styletalker generate`` took for an 8.5-second
    sentence, 0.3-0.4 s with this (docs/benchmarks.md, issue 3). Raising the mmap threshold and the trim threshold
    (``mallopt``) keeps that memory in the process.
    Called by the command line only, which owns its process; a library must not change its host's allocator.
    Returns whether it took effect (False off glibc, e.g. macOS, where nothing changes)."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    if name is None or "libc.so" not in name:                          # glibc only
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3                        # glibc's malloc.h parameter numbers
    # 1 GiB; glibc versions that cap the threshold (at 32 MiB on 64-bit) refuse it, and take their cap
    mmap_ok = bool(mallopt(m_mmap_threshold, 1 << 30) or mallopt(m_mmap_threshold, 32 << 20))
    return mmap_ok and bool(mallopt(m_trim_threshold, (1 << 31) - 1))
