"""Figures: sample grids, training curves, per-pixel bits heatmaps. PNGs are written atomically."""

import io
import math

import matplotlib.pyplot as plt  # headless machines fall back to Agg; notebooks use inline
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid, save_image

from .layers import causal_mask, skew
from .storage import write_atomic


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


def show_grid(images, levels, title=None, nrow=None, ax=None):
    """A sample grid as a matplotlib figure (for notebooks; ``save_grid`` writes the PNG)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(grid_image(images, levels, nrow).permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_title(title or "")
    ax.axis("off")
    return ax.figure


def images_and_bits(images, bits_maps, levels, titles=("image", "bits per pixel")):
    """Each image above its per-pixel bits map, -log2 p(x_ij | x_<ij) (one shared colour scale)."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.8 * n, 3.8), squeeze=False)
    vmax = float(bits_maps.max())
    for k in range(n):
        picture = images[k].detach().cpu().float().permute(1, 2, 0) / (levels - 1)
        axes[0, k].imshow(picture.squeeze(-1) if picture.shape[-1] == 1 else picture, cmap="gray",
                          vmin=0, vmax=1, interpolation="nearest")
        shown = axes[1, k].imshow(bits_maps[k].detach().cpu(), cmap="magma", vmin=0, vmax=vmax,
                                  interpolation="nearest")
        axes[0, k].axis("off")
        axes[1, k].axis("off")
    axes[0, 0].set_title(titles[0], loc="left")
    axes[1, 0].set_title(titles[1], loc="left")
    fig.colorbar(shown, ax=axes[1, :].tolist(), fraction=0.02, label="bits")
    return fig


def receptive_field(gradient, row, col, claimed=None, ax=None, title=None):
    """Where a conditional looks: |gradient| (log scale), the target in red, and the blind spot
    (earlier pixels with exactly zero gradient) hatched."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.6))
    H, W = gradient.shape
    earlier = torch.zeros(H * W, dtype=torch.bool)
    earlier[: row * W + col] = True
    earlier = earlier.view(H, W)
    seen = gradient > 0
    shown = torch.where(seen, gradient.clamp_min(1e-30).log10(), torch.full_like(gradient, float("nan")))
    ax.imshow(shown.cpu(), cmap="viridis", interpolation="nearest")
    blind = (earlier & ~seen).float()
    ax.contourf(blind.cpu(), levels=[0.5, 1.5], hatches=["///"], colors="none")
    ax.imshow(torch.where(blind.bool(), 1.0, float("nan")).cpu(), cmap="Reds", alpha=0.35, vmin=0, vmax=1.5,
              interpolation="nearest")
    ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_title(title or f"receptive field of pixel ({row}, {col})")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.figure


def masks_figure(kernel=5, groups=3):
    """Masks A and B: the spatial taps, and which colour group reads which at the centre."""
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.6))
    for ax, mask_type in zip(axes[:2], "AB"):
        spatial = causal_mask(1, 1, (kernel, kernel), mask_type)[0, 0]
        ax.imshow(spatial, cmap="Greys", vmin=0, vmax=1.4)
        ax.set_title(f"mask {mask_type}: spatial taps")
        ax.set_xticks(range(kernel))
        ax.set_yticks(range(kernel))
        ax.grid(False)
        ax.add_patch(plt.Rectangle((kernel // 2 - 0.5, kernel // 2 - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
    names = "RGB"[:groups]
    for ax, mask_type in zip(axes[2:], "AB"):
        centre = causal_mask(groups, groups, (1, 1), mask_type, groups)[:, :, 0, 0]
        ax.imshow(centre, cmap="Greys", vmin=0, vmax=1.4)
        ax.set_xticks(range(groups), labels=[f"in {n}" for n in names])
        ax.set_yticks(range(groups), labels=[f"out {n}" for n in names])
        ax.set_title(f"mask {mask_type}: centre tap")
    fig.tight_layout()
    return fig


def skew_figure(image, levels):
    """A real image and its skewed map (row i shifted right by i), beside the diagonal index
    i + j before and after: each diagonal becomes a column, so the Diagonal BiLSTM updates a
    whole diagonal at once."""
    x = image.detach().cpu().float()[None] / (levels - 1)              # [1, C, H, W]
    H, W = x.shape[-2:]
    diagonal = (torch.arange(H)[:, None] + torch.arange(W)[None, :]).float()[None, None] + 1
    skewed_diagonal = skew(diagonal)[0]
    skewed_diagonal[skewed_diagonal == 0] = float("nan")              # the padding: blank
    panels = [(x[0], "image"), (skew(x)[0], "skewed image"), (diagonal[0], "diagonal i + j"),
              (skewed_diagonal, "skewed: diagonals are columns")]
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.8), gridspec_kw={"width_ratios": [W, W + H - 1] * 2})
    for ax, (panel, title) in zip(axes, panels):
        picture = panel.permute(1, 2, 0).squeeze(-1)
        colours = dict(cmap="gray") if "image" in title else dict(cmap="tab20", vmin=1, vmax=H + W - 1)
        ax.imshow(picture, interpolation="nearest", **colours)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def cache_step_figure(convs, shape, row, col):
    """One incremental sampling step: for each masked convolution, the positions already cached
    (grey), the window the step reads (outlined taps), and the one position it writes (red)."""
    H, W = shape
    fig, axes = plt.subplots(1, len(convs), figsize=(2.6 * len(convs), 2.8), squeeze=False)
    cached = torch.zeros(H * W)
    cached[: row * W + col] = 1
    for k, (ax, conv) in enumerate(zip(axes[0], convs)):
        ax.imshow(cached.view(H, W), cmap="Greys", vmin=0, vmax=2.5)
        kh, kw = conv.kernel_size
        taps = conv.mask.amax((0, 1)).nonzero().tolist()
        for r, c in taps:
            i, j = row + r - kh // 2, col + c - kw // 2
            if 0 <= i < H and 0 <= j < W:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="C0", lw=1.5))
        ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, color="C3"))
        ax.set_title(f"{'input 7x7 mask A' if k == 0 else f'block {k}: 3x3 mask B'}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


@torch.no_grad()
def fast_cache_figure(model, row, col):
    """Fast PixelCNN++'s per-layer caches when pixel (row, col) is drawn: one panel per layer of
    :meth:`PixelCNNpp.unet`, at its own resolution, u stream above and ul below, shading the
    outputs computed so far. Unwritten cache cells are NaN during this run, so a shaded cell is
    one the sampler really wrote."""
    C, H, W = model.image_shape
    x = torch.zeros(1, C, H, W, dtype=torch.long)
    model.eval()
    sampler = model.sampler(x)
    sampler.mark_unwritten()
    for i in range(row + 1):
        for j in range(W if i < row else col + 1):
            sampler.step(x, i, j, None)
    layers = sampler.written()
    streams = {name: [(step, held) for step, held in layers if step.stream == name] for name in ("u", "ul")}
    columns = max(len(steps) for steps in streams.values())
    fig, axes = plt.subplots(2, columns, figsize=(1.25 * columns, 3.2), squeeze=False)
    for r, (name, steps) in enumerate(streams.items()):
        for k, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if k >= len(steps):
                ax.axis("off")
                continue
            step, held = steps[k]
            ax.imshow(held.float(), cmap="Greys", vmin=0, vmax=1.6, extent=(0, W, H, 0), interpolation="nearest")
            scale = 2 ** step.level
            ax.add_patch(plt.Rectangle((col // scale * scale, row // scale * scale), scale, scale, fill=False,
                                       edgecolor="C3", lw=1.2))
            ax.set_title(f"{name} {step.kind}\n{H // scale}x{W // scale}", fontsize=7)
    fig.suptitle(f"cache contents when pixel ({row}, {col}) is drawn (red: its position at each resolution)",
                 fontsize=8)
    fig.tight_layout()
    return fig


def image_columns(columns, titles, levels, size=1.3):
    """A table of images: one column per entry of ``columns`` (int tensors [n, C, h, w], any
    resolution, each with its number of levels in ``levels``), one row per image."""
    levels = levels if isinstance(levels, (list, tuple)) else [levels] * len(columns)
    n = len(columns[0])
    fig, axes = plt.subplots(n, len(columns), figsize=(size * len(columns), size * n), squeeze=False)
    for c, (images, top, title) in enumerate(zip(columns, levels, titles)):
        for r in range(n):
            picture = images[r].detach().cpu().float().permute(1, 2, 0) / (top - 1)
            axes[r, c].imshow(picture.squeeze(-1) if picture.shape[-1] == 1 else picture, cmap="gray",
                              vmin=0, vmax=1, interpolation="nearest")
            axes[r, c].axis("off")
        axes[0, c].set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def tokenisation_figure(image, palette, tokens, levels=256):
    """ImageGPT's two readings of one RGB image [C, H, W]: its C*H*W sub-pixel tokens (each row of
    the image becomes R, G, B, R, G, B, ...), and its H*W palette tokens (``tokens`` [H, W],
    indices into ``palette`` [K, C]), with the palette's K colours."""
    C, H, W = image.shape
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2), gridspec_kw={"width_ratios": [1, C, 1, 0.35]})
    axes[0].imshow(image.permute(1, 2, 0).float() / (levels - 1), interpolation="nearest")
    axes[0].set_title("image", fontsize=9)
    axes[1].imshow(image.permute(1, 2, 0).reshape(H, W * C), cmap="gray", vmin=0, vmax=levels - 1,
                   interpolation="nearest", aspect="auto")
    axes[1].set_title(f"sub-pixel tokens: {C * H * W:,} per image, vocabulary {levels}\n"
                      f"(row by row: R, G, B of each pixel in turn)", fontsize=9)
    axes[2].imshow(palette[tokens].float() / (levels - 1), interpolation="nearest")
    axes[2].set_title(f"palette tokens: {H * W:,} per image,\nvocabulary {len(palette)}", fontsize=9)
    axes[3].imshow(palette.view(-1, 1, C).float() / (levels - 1), interpolation="nearest", aspect="auto")
    axes[3].set_title("palette", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def bpd_bars(rows, ax=None, title=None):
    """One bar per run (variants apart), exact likelihoods and upper bounds in their own colours,
    with a legend. Palette-space runs are not a bits/dim and are left out."""
    rows = [r for r in rows if r.get("bound", "exact") != "palette"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    colours = {"exact": "C0", "upper": "C1"}
    names = {"exact": "exact test bits/dim", "upper": "upper bound (≤)"}
    y = range(len(rows))
    for kind in ("exact", "upper"):
        picked = [(k, r) for k, r in zip(y, rows) if r.get("bound", "exact") == kind]
        if picked:
            ax.barh([k for k, _ in picked], [r["test_bpd"] for _, r in picked], color=colours[kind], label=names[kind])
    labels = [f"{r['model']}" + (f" ({r['label']})" if r.get("label") else "") + f" · {r['dataset']}"
              + (" · given y" if r.get("conditional") else "") for r in rows]
    ax.set_yticks(list(y), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("test bits/dim (lower is better)")
    ax.set_title(title or "every run, one bar each", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax.figure


def leaderboard_curves(runs, title=None):
    """Held-out bits/dim during training, every family on one figure: against training images
    seen (left) and against CPU-seconds (right). One line per run, one colour per family."""
    fig, (by_images, by_seconds) = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    families = list(dict.fromkeys(r["model"] for r in runs))
    for run in runs:
        colour = f"C{families.index(run['model'])}"
        steps, images, seconds, bpd = zip(*run["curve"])
        threads = run.get("threads") or 1
        style = dict(color=colour, marker="o", markersize=3, linestyle="-" if run["seed"] == 0 else "--")
        label = f"{run['model']} (seed {run['seed']})"
        by_images.plot(images, bpd, label=label, **style)
        by_seconds.plot([s * threads for s in seconds], bpd, **style)
    by_images.set_xlabel("training images seen")
    by_seconds.set_xlabel("CPU-seconds of training (seconds x threads)")
    by_images.set_ylabel(f"held-out bits/dim (first {runs[0]['curve_images']:,} test images)")
    by_seconds.set_xscale("log")
    by_seconds.xaxis.set_minor_formatter(plt.NullFormatter())
    by_images.legend(fontsize=6, ncol=2)
    fig.suptitle(title or "the leaderboard's training curves", fontsize=10)
    fig.tight_layout()
    return fig


def images_per_second(rows, title=None):
    """Training images per second of each family (the mean over its seeds)."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh([r["model"] for r in rows], [r["images_per_s"] for r in rows], color="C2")
    for k, r in enumerate(rows):
        ax.annotate(f"{r['images_per_s']:.0f}", (r["images_per_s"], k), va="center", fontsize=7,
                    xytext=(3, 0), textcoords="offset points")
    ax.invert_yaxis()
    ax.set_xlabel("training images per second")
    ax.set_title(title or "training speed", fontsize=9)
    fig.tight_layout()
    return fig


def training_profile(result, device_name):
    """``bench train``: training images/s of every configuration at each thread count (left, log
    scale) and, at one thread, the achieved GFLOP/s as a fraction of the CPU's float32 matmul rate."""
    rows = [r for r in result["rows"] if not r.get("skipped")]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    threads = sorted({r["threads"] for r in rows})
    fig, (speed, share) = plt.subplots(1, 2, figsize=(11, 0.32 * len(labels) + 1.6), sharey=True)
    height = 0.8 / len(threads)
    for k, t in enumerate(threads):
        values = [next((r["images_per_s"] for r in rows if r["label"] == m and r["threads"] == t), float("nan"))
                  for m in labels]
        speed.barh([i + k * height for i in range(len(labels))], values, height, label=f"{t} thread{'s' * (t > 1)}")
    measured = [r["images_per_s"] for r in rows]
    speed.set_xlim(min(measured) / 2, max(measured) * 2)
    one = threads[0]
    share.barh([i + height * (len(threads) - 1) / 2 for i in range(len(labels))],
               [100 * next((r["fraction_of_matmul"] for r in rows if r["label"] == m and r["threads"] == one), float("nan"))
                for m in labels], 0.6, color="C2")
    speed.set_yticks([i + height * (len(threads) - 1) / 2 for i in range(len(labels))], labels, fontsize=7)
    speed.invert_yaxis()
    speed.set_xscale("log")
    speed.set_xlabel("training images per second")
    speed.legend(fontsize=7)
    rate = result["matmul_gflop_per_s"]
    share.set_xlabel(f"% of float32 matmul rate ({rate.get(one, rate.get(str(one)))} GFLOP/s at {one} thread)")
    fig.suptitle(f"where training time goes, {device_name}", fontsize=9)
    fig.tight_layout()
    return fig


# -- the benchmarks' figures (pixelbook.bench measures, these draw its rows) ---------------------

def measured(rows) -> list:
    """The rows a figure draws: not those skipped at a deadline."""
    return [r for r in rows if not r.get("skipped")]


def grouped_bars(ax, groups, series, value, log=True, fontsize=8):
    """One cluster of bars per group, one bar per series in each: ``value(group, series)``
    (NaN where a pair was not measured), labelled by series."""
    width = 0.8 / max(1, len(series))
    for k, name in enumerate(series):
        ax.bar([i + k * width for i in range(len(groups))], [value(g, name) for g in groups], width, label=str(name))
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(groups))], [str(g) for g in groups],
                  fontsize=fontsize)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=7)


def lookup(rows, key, **match):
    """``key`` of the first row matching every field in ``match``, else NaN."""
    return next((r[key] for r in rows if all(r.get(k) == v for k, v in match.items())), float("nan"))


def speedup_figure(rows, device_name, size=None):
    """Naive time over cached time per model and batch, at one image size (default: the middle one)."""
    rows = [{**r, "model": r.get("model", r["family"]), "size": r.get("size", r["image_shape"][-1])}
            for r in measured(rows)]
    sizes = sorted({r["size"] for r in rows})
    size = size or sizes[len(sizes) // 2]
    rows = [r for r in rows if r["size"] == size]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    batches = sorted({r["batch"] for r in rows})
    grouped_bars(ax, list(dict.fromkeys(r["model"] for r in rows)), [f"batch {b}" for b in batches],
                 lambda model, batch: lookup(rows, "speedup", model=model, batch=int(batch.split()[1])))
    ax.set_ylabel("naive time / cached time")
    ax.set_title(f"cached sampling speed-up, {size}x{size}, {device_name}", fontsize=9)
    return fig


def per_pixel_figure(rows, device_name):
    """Milliseconds per pixel against image size: cached (solid) and naive (dashed), per batch."""
    rows = measured(rows)
    batches = sorted({r["batch"] for r in rows})
    labels = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, len(batches), figsize=(3.2 * len(batches), 3.2), sharey=True, squeeze=False)
    for ax, batch in zip(axes[0], batches):
        for k, label in enumerate(labels):
            mine = sorted((r for r in rows if r["model"] == label and r["batch"] == batch), key=lambda r: r["size"])
            sizes = [r["size"] for r in mine]
            ax.plot(sizes, [r["cached_ms_per_pixel"] for r in mine], "o-", color=f"C{k}", label=f"{label}")
            ax.plot(sizes, [r["naive_ms_per_pixel"] for r in mine], "o--", color=f"C{k}", alpha=0.5)
        ax.set_yscale("log")
        ax.set_xticks(sorted({r["size"] for r in rows}))
        ax.set_xlabel("image height = width")
        ax.set_title(f"batch {batch}", fontsize=9)
    axes[0][0].set_ylabel("ms per pixel (solid cached, dashed naive)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"sampling cost per pixel against image size, {device_name}", fontsize=9)
    return fig


def igpt_figure(rows, device_name):
    """ImageGPT: seconds to sample its tokens by full recomputation and with the KV cache, per batch."""
    rows = measured(rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    batches = [f"batch {r['batch']}" for r in rows]
    times = {"full recompute": [r["naive_s"] for r in rows], "KV cache": [r["cached_s"] for r in rows]}
    grouped_bars(ax, batches, list(times), lambda batch, name: times[name][batches.index(batch)])
    for i, r in enumerate(rows):
        ax.annotate(f"{r['speedup']:.0f}x", (i + 0.2, max(r["naive_s"], r["cached_s"])), ha="center", va="bottom",
                    fontsize=8)
    ax.set_ylabel(f"seconds for {rows[0]['tokens']} tokens")
    ax.set_title(f"ImageGPT sampling, {device_name}", fontsize=9)
    return fig


def pyramid_figure(rows, device_name):
    """Milliseconds per generated pixel of the Pyramid PixelCNN and PixelCNN++, naive and cached, per batch."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    batches = sorted({r["batch"] for r in rows})
    bars = [f"{r['model']}, {path}" for r in rows if r["batch"] == batches[0] for path in ("naive", "cached")]
    grouped_bars(ax, [f"batch {b}" for b in batches], bars,
                 lambda batch, bar: lookup(rows, f"{bar.split(', ')[1]}_ms_per_pixel", model=bar.split(", ")[0],
                                           batch=int(batch.split()[1])))
    ax.set_ylabel("milliseconds per generated pixel")
    ax.set_title(f"Pyramid PixelCNN vs PixelCNN++ sampling, {device_name}", fontsize=9)
    return fig


def training_figure(rows, device_name):
    """Training images/s of each fast-path variant over fp32 eager, per family (``bench.training``)."""
    rows = [r for r in measured(rows) if "speedup" in r]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    grouped_bars(ax, list(dict.fromkeys(r["family"] for r in rows)), list(dict.fromkeys(r["variant"] for r in rows)),
                 lambda family, variant: lookup(rows, "speedup", family=family, variant=variant), log=False)
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_ylabel("training images/s vs fp32 eager")
    ax.set_title(f"training throughput, {device_name}", fontsize=9)
    return fig


SAMPLING_FIGURES = {"": speedup_figure, "_per_pixel": per_pixel_figure}
