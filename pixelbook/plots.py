"""Figures: sample grids, training curves, per-pixel bits heatmaps. PNGs are written atomically."""

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display on CI or the GPU machine; notebooks show the returned figures
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid, save_image

from .results import write_atomic


def grid_image(images: torch.Tensor, levels: int, nrow=None, min_pixels=48) -> torch.Tensor:
    """int [N, C, H, W] -> float [3, H', W'] in [0, 1]; small images are enlarged (nearest) so an
    8x8 digit is visible."""
    x = images.detach().cpu().float() / (levels - 1)
    scale = max(1, math.ceil(min_pixels / x.shape[-1]))
    x = F.interpolate(x, scale_factor=scale, mode="nearest") if scale > 1 else x
    nrow = nrow or math.ceil(math.sqrt(len(x)))
    return make_grid(x, nrow=nrow, padding=2, pad_value=1.0)


def save_grid(images, levels, path, nrow=None):
    buffer = io.BytesIO()
    save_image(grid_image(images, levels, nrow), buffer, format="png")
    write_atomic(path, buffer.getvalue())


def save_figure(fig, path, dpi=120):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())


def training_curve(history, test_bpd=None, title=None, ax=None):
    """Train bpd per logged step, with the final test bpd as a dashed line."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    steps, bpd = zip(*history) if history else ((), ())
    ax.plot(steps, bpd, label="train (running mean)")
    if test_bpd is not None:
        ax.axhline(test_bpd, color="C3", linestyle="--", label=f"test {test_bpd:.3f}")
    ax.set_xlabel("step")
    ax.set_ylabel("bits/dim")
    ax.set_title(title or "training curve")
    ax.legend()
    return ax.figure


def bits_heatmap(bits_map: torch.Tensor, title="bits per pixel", ax=None):
    """A [H, W] map of -log2 p(x_ij | x_<ij): where the bits go."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3))
    shown = ax.imshow(bits_map.detach().cpu(), cmap="magma")
    ax.figure.colorbar(shown, ax=ax, fraction=0.046)
    ax.set_title(title)
    ax.axis("off")
    return ax.figure
