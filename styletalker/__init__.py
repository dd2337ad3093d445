"""styletalker: an educational reproduction of StyleTalker (Min et al., arXiv 2208.10922)."""
__version__ = "0.1.0"

from .config import DataConfig, data_config, profile  # noqa: E402
from .errors import StyletalkerError  # noqa: E402

# The user-facing API (styletalker/api.py), imported on first use so that ``import styletalker`` stays light (no
# torch): st.generate mirrors ``styletalker generate``, st.demo ``styletalker demo``.
_API = ("generate", "demo", "load_models", "contact_sheet", "speech", "InputWarning", "SHIPPED_PORTRAIT",
        "DEFAULT_VOICE")
__all__ = ["DataConfig", "data_config", "profile", "StyletalkerError", *_API]


def __getattr__(name):
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'styletalker' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
