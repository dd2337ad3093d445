"""Small plotting helpers the notebooks share (matplotlib, imported lazily)."""
from __future__ import annotations

import math

import numpy as np


def grid(images, rows: int = 1, titles=None, size: float = 1.3, suptitle: str | None = None):
    """Show uint8 images [N, H, W, 3] in a grid of ``rows`` rows; returns the figure."""
    import matplotlib.pyplot as plt
    images = np.asarray(images)
    n = len(images)
    cols = math.ceil(n / rows)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    plt.show()
    return fig
