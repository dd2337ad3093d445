"""styletalker: an educational reproduction of StyleTalker (Min et al., arXiv 2208.10922)."""
__version__ = "0.1.0"

from .config import DataConfig, data_config, profile  # noqa: E402
from .errors import StyletalkerError  # noqa: E402
