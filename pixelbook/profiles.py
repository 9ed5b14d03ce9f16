"""Profiles: how big and how long each chapter's runs are, as plain data.

One entry per (chapter, profile):

- ``smoke``: seconds per chapter on 2 CPU cores, bundled data only. CI and nbval run this.
- ``cpu``: Fashion-MNIST. The runs behind a claim train at two seeds and long enough to test it
  (the leaderboard's second budget, and the gated, PixelCNN++ and auxiliary chapters: hours in
  all, each run under 2.5 h at one thread; ``python -m pixelbook run CHAPTER --profile cpu
  --plan`` lists them with their estimates). Train them with the run queue (``--workers 2``); the
  other chapters take 10-20 minutes each on 2 cores.
- ``gpu``: every chapter's runs together fit one device call: about 5 minutes of training on one
  H200 (``python -m pixelbook device-run --estimate`` shows the estimate per run), under 20
  minutes per chapter on a Colab T4. Their weights must come back in one bundle, 64 MiB in all:
  about 28 million numbers in bf16 (``tests/test_device.py`` counts them), which sets the sizes
  of the PixelCNN++, auxiliary and ImageGPT runs.
- ``paper``: the paper's hyperparameters and dataset; multi-GPU through ``torchrun``.
"""

from dataclasses import dataclass, field, replace

from . import models
from .claims import LONG, SHORT
from .errors import UnknownNameError, known
from .train import TrainConfig

PROFILES = ("smoke", "cpu", "gpu", "paper")


@dataclass(frozen=True)
class Profile:
    dataset: str
    models: dict                      # model name -> size knobs
    steps: int
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 50
    ema: float | None = None
    levels: int | None = None         # None: the dataset's own
    eval_images: int | None = None    # None: the whole test split
    checkpoint_every: int = 500
    samples: int = 16
    colour_dataset: str | None = None  # a chapter's second, RGB dataset (PixelCNN++)
    train_overrides: dict = field(default_factory=dict)   # model name -> TrainConfig fields of its own
    seeds: tuple = (0,)               # the seeds a chapter trains each run with (a claim needs at least 2)
    # (model, label) -> that run's seeds where they are not ``seeds``: the first only for a run no
    # claim compares; a third where two seeds a side came within twice their spread (the seeds' rule)
    run_seeds: dict = field(default_factory=dict)
    curve_every: int | None = None    # held-out bits/dim every N steps during training (the leaderboard's curves)
    curve_images: int = 1000          # that held-out set: the first N test images
    # A second budget of the same runs (the leaderboard's): a label and the TrainConfig fields it
    # changes, e.g. ("240,000 images", dict(steps=3750, curve_every=375)). Same models, data and seeds.
    second_budget: tuple | None = None

    def seeds_of(self, model, label=None) -> tuple:
        """The seeds the run ``(model, label)`` trains with."""
        return self.run_seeds.get((model, label), self.seeds)

    def train_config(self, seed=0, **overrides) -> TrainConfig:
        config = TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, warmup=self.warmup,
                             ema=self.ema, checkpoint_every=self.checkpoint_every, seed=seed,
                             curve_every=self.curve_every)
        return replace(config, **overrides)


# The PixelCNN++ runs the chapter shows but no claim compares: trained at the first seed only.
SHOWN_ONLY = {("pixelcnn_pp", "colour"): (0,), ("pixelcnn_pp", "single resolution"): (0,)}

# The palette size of each profile's palette variant (iGPT: 512 colours).
PALETTE = {"smoke": 8, "cpu": 16, "gpu": 64, "paper": 512}

ENTRIES = {
    # PixelCNN: 7x7 mask A, residual blocks of 3x3 mask B, 256-way softmax (van den Oord 2016).
    ("pixelcnn", "smoke"): Profile(
        dataset="digits", models={"pixelcnn": dict(hidden=16, layers=3, output_hidden=32)},
        steps=150, batch_size=32, lr=3e-3, warmup=10, checkpoint_every=50),
    ("pixelcnn", "cpu"): Profile(
        dataset="fashion_mnist", models={"pixelcnn": dict(hidden=32, layers=7, output_hidden=64)},
        steps=2500, batch_size=32, lr=1e-3, warmup=100),
    ("pixelcnn", "gpu"): Profile(
        dataset="fashion_mnist", models={"pixelcnn": dict(hidden=64, layers=12, output_hidden=256)},
        steps=2400, batch_size=64, lr=1e-3, warmup=100, ema=0.999, checkpoint_every=800),
    # The paper's CIFAR-10 PixelCNN: h = 128 (2h = 256 maps), 15 residual blocks, 1024 output
    # maps (PixelRNN paper, section 5 / Table 3); the step count is ours.
    ("pixelcnn", "paper"): Profile(
        dataset="cifar10", models={"pixelcnn": dict(hidden=128, layers=15, output_hidden=1024)},
        steps=200_000, batch_size=16, lr=1e-3, warmup=1000, ema=0.9995, checkpoint_every=2000),
    # PixelRNN: Row LSTM, Diagonal BiLSTM, Multi-Scale (van den Oord 2016). The paper's CIFAR-10
    # models have 12 layers of h = 128; these budgets keep each chapter to its profile's time.
    ("pixelrnn", "smoke"): Profile(
        dataset="digits", steps=100, batch_size=32, lr=3e-3, warmup=10, checkpoint_every=50,
        models={"row_lstm": dict(hidden=8, layers=1, output_hidden=16),
                "diagonal_bilstm": dict(hidden=8, layers=1, output_hidden=16),
                "multiscale_pixelrnn": dict(hidden=8, layers=1, output_hidden=16, condition_channels=8)}),
    # cpu: one recurrent layer each (one Diagonal BiLSTM layer already sees the whole past); the
    # diagonal recurrences cost ~1 s per step of 32 images on 2 cores, so 600 steps each.
    ("pixelrnn", "cpu"): Profile(
        dataset="fashion_mnist", steps=600, batch_size=32, lr=2e-3, warmup=50, checkpoint_every=200,
        eval_images=2000,
        models={"row_lstm": dict(hidden=16, layers=1, output_hidden=32),
                "diagonal_bilstm": dict(hidden=16, layers=1, output_hidden=32),
                "multiscale_pixelrnn": dict(hidden=16, layers=1, output_hidden=32, condition_channels=16)}),
    ("pixelrnn", "gpu"): Profile(
        dataset="fashion_mnist", steps=150, batch_size=128, lr=2e-3, warmup=20, ema=0.995, checkpoint_every=75,
        models={"row_lstm": dict(hidden=48, layers=2, output_hidden=128),
                "diagonal_bilstm": dict(hidden=48, layers=2, output_hidden=128),
                "multiscale_pixelrnn": dict(hidden=48, layers=2, output_hidden=128, condition_channels=32)}),
    ("pixelrnn", "paper"): Profile(
        dataset="cifar10", steps=200_000, batch_size=16, lr=1e-3, warmup=1000, ema=0.9995, checkpoint_every=2000,
        models={"row_lstm": dict(hidden=128, layers=12, output_hidden=1024),
                "diagonal_bilstm": dict(hidden=128, layers=12, output_hidden=1024),
                "multiscale_pixelrnn": dict(hidden=128, layers=12, output_hidden=1024, condition_channels=64)}),
    # Gated PixelCNN (van den Oord et al. 2016b). The main runs are unconditional, like the paper's
    # CIFAR-10 model (3.03 bpd); the chapter adds a class-conditional variant (num_classes=10,
    # labelled "given y"). The paper's ImageNet model has 20 layers of 384 maps.
    ("gated_pixelcnn", "smoke"): Profile(
        dataset="digits", steps=150, batch_size=32, lr=3e-3, warmup=10, checkpoint_every=50, seeds=(0, 1),
        curve_every=50, curve_images=100,
        models={"gated_pixelcnn": dict(channels=16, layers=4, output_hidden=32)}),
    # cpu: 192,000 training images per run (about 32 min at one thread), two seeds of each run.
    ("gated_pixelcnn", "cpu"): Profile(
        dataset="fashion_mnist", steps=6000, batch_size=32, lr=1e-3, warmup=100, seeds=(0, 1), curve_every=750,
        models={"gated_pixelcnn": dict(channels=32, layers=6, output_hidden=64)}),
    ("gated_pixelcnn", "gpu"): Profile(
        dataset="fashion_mnist", steps=1200, batch_size=64, lr=1e-3, warmup=100, ema=0.999, checkpoint_every=400,
        models={"gated_pixelcnn": dict(channels=64, layers=10, output_hidden=256)}),
    ("gated_pixelcnn", "paper"): Profile(
        dataset="cifar10", steps=300_000, batch_size=16, lr=1e-3, warmup=1000, ema=0.9995, checkpoint_every=2000,
        models={"gated_pixelcnn": dict(channels=384, layers=20, output_hidden=1024)}),
    # PixelCNN++ (Salimans et al. 2017): the reference is 160 filters, 5 blocks per resolution,
    # 10 mixtures, dropout 0.5, EMA 0.9995, about 5 days on 8 GPUs for CIFAR-10.
    ("pixelcnn_pp", "smoke"): Profile(
        dataset="digits", colour_dataset="colored_digits", steps=120, batch_size=32, lr=3e-3, warmup=10,
        checkpoint_every=40, ema=0.99, seeds=(0, 1), run_seeds=SHOWN_ONLY, curve_every=40, curve_images=100,
        models={"pixelcnn_pp": dict(filters=16, resnets=1, mixtures=5, downsamples=2)}),
    # cpu: 96,000 training images per run (about 25 min at one thread); two seeds of the main run and
    # of the ablations the claims compare, one of the colour and single-resolution runs.
    ("pixelcnn_pp", "cpu"): Profile(
        dataset="fashion_mnist", colour_dataset="colored_fashion_mnist", steps=3000, batch_size=32, lr=2e-3,
        warmup=50, checkpoint_every=250, ema=0.995, seeds=(0, 1), run_seeds=SHOWN_ONLY, curve_every=375,
        models={"pixelcnn_pp": dict(filters=24, resnets=1, mixtures=10, downsamples=2)}),
    ("pixelcnn_pp", "gpu"): Profile(
        dataset="fashion_mnist", colour_dataset="colored_fashion_mnist", steps=400, batch_size=128, lr=2e-3,
        warmup=40, checkpoint_every=200, ema=0.995,
        models={"pixelcnn_pp": dict(filters=40, resnets=2, mixtures=10, downsamples=2, dropout=0.5)}),
    ("pixelcnn_pp", "paper"): Profile(
        dataset="cifar10", colour_dataset="cifar10", steps=500_000, batch_size=16, lr=1e-3, warmup=1000,
        checkpoint_every=2000, ema=0.9995,
        models={"pixelcnn_pp": dict(filters=160, resnets=5, mixtures=10, downsamples=2, dropout=0.5)}),
    # Auxiliary-variable PixelCNNs (Kolesnikov & Lampert 2017). ``dataset`` is the Pyramid's (grey,
    # a power of two), ``colour_dataset`` the Grayscale PixelCNN's and the grey-base pyramid's.
    # Every factor is a PixelCNN++ (section 3.3); f_w is one unshifted flow of gated blocks whose
    # depth and resampling positions are knobs. Below the paper profile the sizes are ours: the
    # Pyramid's stages keep the paper's shape (no down- or upsampling) with fewer blocks (the
    # paper: 3), and f_w keeps its down-up-up shape with fewer blocks (the paper: 15). The grey
    # sketch sees every earlier pixel (tests/test_models.py): PixelCNN++'s strided layers leave odd
    # rows a blind spot unless enough blocks run at full resolution, so smoke and cpu give it one
    # resolution and the fewest blocks that reach across the image (2 at 8x8, 7 at 28x28), and gpu
    # 7 per resolution. Block counts are ``resnets`` per pass: a single-resolution PixelCNN++ with
    # resnets=r has r blocks in its up pass and r in its down pass, per stream.
    ("auxiliary", "smoke"): Profile(
        dataset="digits", colour_dataset="colored_digits", steps=80, batch_size=32, lr=3e-3, warmup=10,
        checkpoint_every=40, ema=0.99, seeds=(0, 1), run_seeds={("pyramid_pixelcnn", None): (0,)}, curve_every=20,
        curve_images=100,
        models={"grayscale_pixelcnn": dict(filters=8, resnets=1, mixtures=3, downsamples=1, embedding=8,
                                           embedding_blocks=2, sketch_resnets=2, sketch_downsamples=0),
                "pyramid_pixelcnn": dict(base=2, filters=8, resnets=1, mixtures=3, embedding=8,
                                         embedding_blocks=3, embedding_down=(1,), embedding_up=(2, 3))}),
    # cpu: 64,000 training images per run (the Grayscale PixelCNN about 47 min at one thread); two
    # seeds of the runs the claims compare (Grayscale; the two colour pyramids), one of the grey pyramid.
    ("auxiliary", "cpu"): Profile(
        dataset="fashion_mnist32", colour_dataset="colored_fashion_mnist", steps=2000, batch_size=32, lr=2e-3,
        warmup=50, checkpoint_every=250, ema=0.995, seeds=(0, 1), run_seeds={("pyramid_pixelcnn", None): (0,)},
        curve_every=250,
        models={"grayscale_pixelcnn": dict(filters=24, resnets=1, mixtures=5, downsamples=2, embedding=16,
                                           embedding_blocks=6, embedding_down=(1, 2), embedding_up=(4, 5),
                                           sketch_filters=16, sketch_resnets=7, sketch_downsamples=0),
                "pyramid_pixelcnn": dict(base=4, filters=24, resnets=1, mixtures=5, embedding=16,
                                         embedding_blocks=5, embedding_down=(1,), embedding_up=(3, 4))}),
    ("auxiliary", "gpu"): Profile(
        dataset="fashion_mnist32", colour_dataset="colored_fashion_mnist", steps=150, batch_size=128, lr=2e-3,
        warmup=20, checkpoint_every=75, ema=0.995,
        models={"grayscale_pixelcnn": dict(filters=24, resnets=2, mixtures=10, downsamples=2, dropout=0.5,
                                           embedding=24, embedding_blocks=12, embedding_down=(2, 4),
                                           embedding_up=(8, 10), sketch_resnets=7),
                "pyramid_pixelcnn": dict(base=4, filters=24, resnets=2, mixtures=10, dropout=0.5, embedding=24,
                                         embedding_blocks=15, embedding_down=(3,), embedding_up=(9, 12))}),
    # The paper's hyperparameters (sections 3.3, 4.1, 4.2): PixelCNN++ factors with 160 filters and 10
    # mixtures; dropout 0.5; Adam at 1e-3 with an exponential decay per iteration and no warm-up.
    # Grayscale (CIFAR-10, horizontal flips): batch 64, decay 0.99999, p(X | X^) and f_w with "24
    # residual blocks instead of 36": 4 per group of PixelCNN++'s six (resnets=4) and a 24-block f_w,
    # whose resampling positions (after blocks 4, 8 down and 16, 20 up) are ours, as the paper gives
    # none; the sketch keeps PixelCNN++'s 5 per group; 200 epochs = 156,250 steps. Pyramid (CelebA
    # 128x128 from 8x8): batch 16, decay 0.999995, 100 filters, stages of 3 blocks, a 15-block f_w
    # (down after 3, up after 9 and 12), 60 epochs of ~192,000 images = 720,000 steps.
    # "Blocks" count as the paper seems to: resnets per resolution group, six groups in a U-net with
    # two downsamplings (3 resolutions, up and down pass), so resnets=4 is "24" and PixelCNN++'s
    # default 5 is 30 (the paper says 36, which no resnets gives in this count); a single-resolution
    # stage with resnets=3 has 3 blocks per pass. Still different from the paper: the factors train
    # jointly for one step count (the paper trains p(X^) 30 epochs and p(X | X^) 200); EMA 0.9995 and
    # gradient clipping at 1 (PixelCNN++'s reference and this library, the paper names neither);
    # Adam's default betas; no data-dependent initialisation of the weight norm. At these sizes the
    # sketch, like PixelCNN++ itself at 32x32 with 5 blocks per resolution, has a small blind spot
    # on odd rows (288 of 1,024 positions miss up to 9 earlier pixels, from the wiring).
    ("auxiliary", "paper"): Profile(
        dataset="celeba128", colour_dataset="cifar10", steps=156_250, batch_size=64, lr=1e-3, warmup=0,
        checkpoint_every=2000, ema=0.9995,
        train_overrides={"grayscale_pixelcnn": dict(lr_decay=0.99999, hflip=True),
                         "pyramid_pixelcnn": dict(steps=720_000, batch_size=16, lr_decay=0.999995)},
        models={"grayscale_pixelcnn": dict(filters=160, resnets=4, sketch_resnets=5, mixtures=10, downsamples=2,
                                           dropout=0.5, embedding=160, embedding_blocks=24,
                                           embedding_down=(4, 8), embedding_up=(16, 20)),
                "pyramid_pixelcnn": dict(base=8, filters=100, resnets=3, mixtures=10, dropout=0.5, embedding=100,
                                         embedding_blocks=15, embedding_down=(3,), embedding_up=(9, 12))}),
    # ImageGPT (Chen et al. 2020): iGPT-S is 24 layers of width 512 (8 heads) over 32x32 images in
    # a 512-colour palette; ``colour_dataset`` is the palette variant's. The sub-pixel models read
    # C*H*W tokens, so the paper profile's CIFAR-10 sequence is 3072 long. cpu: one step of 16
    # images at 784 tokens takes ~0.75 s on 2 cores, and the chapter trains two models.
    ("imagegpt", "smoke"): Profile(
        dataset="digits", colour_dataset="colored_digits", steps=150, batch_size=32, lr=3e-3, warmup=10,
        checkpoint_every=50, seeds=(0, 1), curve_every=50, curve_images=100,
        run_seeds={("igpt", f"palette {PALETTE['smoke']}"): (0,)}, models={"igpt": dict(width=32, layers=2, heads=2)}),
    # cpu: the main run and its quarter-budget twin at two seeds, for the probe claims (section 4)
    ("imagegpt", "cpu"): Profile(
        dataset="fashion_mnist", colour_dataset="colored_fashion_mnist", steps=1400, batch_size=16, lr=2e-3,
        warmup=140, checkpoint_every=200, ema=0.995, eval_images=2000, seeds=(0, 1), curve_every=280,
        run_seeds={("igpt", f"palette {PALETTE['cpu']}"): (0,)}, models={"igpt": dict(width=64, layers=4, heads=4)}),
    ("imagegpt", "gpu"): Profile(
        dataset="fashion_mnist", colour_dataset="colored_fashion_mnist", steps=600, batch_size=64, lr=1e-3,
        warmup=60, checkpoint_every=300, ema=0.999,
        models={"igpt": dict(width=128, layers=6, heads=4)}),
    ("imagegpt", "paper"): Profile(
        dataset="cifar10", colour_dataset="cifar10", steps=500_000, batch_size=32, lr=1e-3, warmup=5000,
        checkpoint_every=2000, ema=0.9995, models={"igpt": dict(width=512, layers=24, heads=8)}),
    # The leaderboard: the exact families at one budget. Same data and data order (a function of seed
    # and step), the same optimizer, schedule and EMA rule, parameter counts within 1.5x of each other,
    # two seeds each, scored on the whole test split; the curve is measured on the first 1,000 test
    # images. cpu: 469 steps x 64 = 30,016 training images per run; the sizes are set by the Diagonal
    # BiLSTM's cost, the slowest family per parameter (one layer already sees the whole past).
    ("leaderboard", "smoke"): Profile(
        dataset="digits", steps=60, batch_size=32, lr=3e-3, warmup=10, ema=0.99, checkpoint_every=30,
        seeds=(0, 1), curve_every=12, curve_images=100,
        second_budget=("4x images", dict(steps=240, curve_every=48, checkpoint_every=60)),
        models={"pixelcnn": dict(hidden=8, layers=2, output_hidden=16),
                "row_lstm": dict(hidden=8, layers=1, output_hidden=16),
                "diagonal_bilstm": dict(hidden=8, layers=1, output_hidden=16),
                "gated_pixelcnn": dict(channels=8, layers=2, output_hidden=16),
                "pixelcnn_pp": dict(filters=4, resnets=1, mixtures=3, downsamples=1),
                "igpt": dict(width=12, layers=1, heads=2)}),
    ("leaderboard", "cpu"): Profile(
        dataset="fashion_mnist", steps=469, batch_size=64, lr=2e-3, warmup=30, ema=0.995, checkpoint_every=47,
        seeds=(0, 1), curve_every=94, curve_images=1000,
        second_budget=(LONG, dict(steps=3750, curve_every=375, checkpoint_every=125)),
        # At 240k the two seeds a side of PixelCNN (3.048, 3.058) and Gated (3.068, 3.080) did not
        # overlap, but their gap (0.021) was within twice the spread (0.012): a third seed each.
        # PixelCNN's third (3.043) widened its spread to 0.016, so the Diagonal BiLSTM (3.020,
        # 3.022), 0.029 ahead, needs a third too.
        run_seeds={("pixelcnn", LONG): (0, 1, 2), ("gated_pixelcnn", LONG): (0, 1, 2),
                   ("diagonal_bilstm", LONG): (0, 1, 2)},
        models={"pixelcnn": dict(hidden=24, layers=5, output_hidden=64),
                "row_lstm": dict(hidden=32, layers=1, output_hidden=64),
                "diagonal_bilstm": dict(hidden=32, layers=1, output_hidden=64),
                "gated_pixelcnn": dict(channels=24, layers=4, output_hidden=64),
                "pixelcnn_pp": dict(filters=10, resnets=1, mixtures=10, downsamples=2),
                "igpt": dict(width=32, layers=2, heads=2)}),
    ("leaderboard", "gpu"): Profile(
        dataset="fashion_mnist", steps=250, batch_size=128, lr=2e-3, warmup=25, ema=0.995, checkpoint_every=125,
        seeds=(0, 1), curve_every=50, curve_images=1000,
        models={"pixelcnn": dict(hidden=56, layers=8, output_hidden=128),
                "row_lstm": dict(hidden=64, layers=2, output_hidden=128),
                "diagonal_bilstm": dict(hidden=64, layers=2, output_hidden=128),
                "gated_pixelcnn": dict(channels=48, layers=8, output_hidden=128),
                "pixelcnn_pp": dict(filters=20, resnets=2, mixtures=10, downsamples=2),
                "igpt": dict(width=96, layers=3, heads=4)}),
}


# Every benchmark's scale, per profile: the one place the chapters, `bench` and `device-run` read
# (a dry run takes smoke's, a device run gpu's). sampling: image sizes, batches, the seconds a naive
# run may take before it is timed on its first pixels only, and the torch.profiler summary's batches
# and size; pyramid, igpt: batches and image size; train: the fast-path variants' batch, image size,
# timed and warm-up steps; fast_path: the same for the device run's choice of its training options.
BENCH = {
    "smoke": dict(sampling=dict(sizes=[8], batches=[1, 4], naive_budget_s=None, profile_batches=[4], profile_size=8),
                  pyramid=dict(batches=[1, 2], size=8), igpt=dict(batches=[1, 4], size=8),
                  train=dict(batch=4, size=8, steps=1, warmup=1), fast_path=dict(batch=4, size=8, steps=2, warmup=1)),
    "cpu": dict(sampling=dict(sizes=[14, 28, 42], batches=[1, 16, 64], naive_budget_s=15, profile_batches=[1, 16],
                              profile_size=28),
                pyramid=dict(batches=[1, 16], size=32), igpt=dict(batches=[1, 8], size=28),
                train=dict(batch=32, size=28, steps=5, warmup=2), fast_path=dict(batch=64, size=28, steps=5, warmup=2)),
    "gpu": dict(sampling=dict(sizes=[14, 28], batches=[1, 16, 64, 256], naive_budget_s=3, profile_batches=[1, 16],
                              profile_size=28),
                pyramid=dict(batches=[1, 16, 64], size=32), igpt=dict(batches=[1, 64], size=28),
                train=dict(batch=64, size=28, steps=10, warmup=3), fast_path=dict(batch=64, size=28, steps=5, warmup=2)),
    "paper": dict(sampling=dict(sizes=[32], batches=[1, 16, 256], naive_budget_s=60, profile_batches=[1, 16],
                                profile_size=32),
                  pyramid=dict(batches=[1, 16], size=32), igpt=dict(batches=[1, 64], size=32),
                  train=dict(batch=64, size=32, steps=10, warmup=3), fast_path=dict(batch=64, size=32, steps=5, warmup=2)),
}


def ablations(entry) -> dict:
    """The PixelCNN++ chapter's ablations: {label: size knobs changed}. Dropout is switched to
    whichever the profile's model does not use."""
    variants = {"softmax": dict(likelihood="softmax"), "no shortcuts": dict(shortcuts=False),
                "single resolution": dict(downsamples=0)}
    if entry.models["pixelcnn_pp"].get("dropout", 0.0) == 0.0:
        variants["dropout 0.5"] = dict(dropout=0.5)
    else:
        variants["no dropout"] = dict(dropout=0.0)
    return variants


def quarter_budget(entry) -> dict:
    """TrainConfig fields of a run trained for a quarter of the profile's steps, its warm-up and curve
    scaled alike: the same model at a higher generative loss, for the probe-against-loss claim."""
    return {"steps": entry.steps // 4, "warmup": entry.warmup // 4, "checkpoint_every": max(1, entry.checkpoint_every // 4),
            **({"curve_every": entry.curve_every // 4} if entry.curve_every else {})}


def chapter_runs(chapter: str, profile: str) -> list[dict]:
    """Every run a chapter trains at ``profile``, each followed by its other seeds, as ``Chapter.train`` keyword
    arguments (model; label, dataset, seed, size knobs and train options where it sets them): the
    one list of a chapter's runs. The notebook asks for them by name (``Chapter.declared``), and
    the run queue and ``device-run`` train them ahead of it. ``tests/test_results.py`` checks the
    list against the runs each chapter's committed smoke results hold."""
    if (chapter, profile) not in ENTRIES:
        return []
    entry = get(chapter, profile)
    if chapter == "leaderboard":
        budgets = [{}] + ([dict(label=entry.second_budget[0], train_options=entry.second_budget[1])]
                          if entry.second_budget else [])
        return [dict(model=name, seed=seed, **budget) for budget in budgets for name in entry.models
                for seed in entry.seeds_of(name, budget.get("label"))]
    colour = entry.colour_dataset
    extra = {
        "gated_pixelcnn": lambda: [dict(model="gated_pixelcnn", label="given y", size=dict(num_classes=10))],
        "pixelcnn_pp": lambda: [dict(model="pixelcnn_pp", dataset=colour, label="colour")] + [
            dict(model="pixelcnn_pp", label=label, size=size) for label, size in ablations(entry).items()],
        "auxiliary": lambda: [dict(model="pyramid_pixelcnn", dataset=colour, label="colour"),
                              dict(model="pyramid_pixelcnn", dataset=colour, label="colour grey base",
                                   size=dict(grey_base=True))],
        "imagegpt": lambda: [dict(model="igpt", label=SHORT, train_options=quarter_budget(entry)),
                             dict(model="igpt", dataset=colour, label=f"palette {PALETTE[profile]}",
                                  size=dict(palette=PALETTE[profile]))],
    }
    main = [dict(model=name) for name in entry.models]
    if chapter == "auxiliary":                                         # the Grayscale model reads colour
        main = [dict(model="grayscale_pixelcnn", dataset=colour), dict(model="pyramid_pixelcnn")]
    # Each run at each of its seeds (``Profile.seeds_of``); seed 0 keeps the plain name
    # (``gated_pixelcnn``), a replicate has its seed in it (``gated_pixelcnn-seed-1``).
    return [{**spec, **({"seed": seed} if seed else {})} for spec in main + extra.get(chapter, list)()
            for seed in entry.seeds_of(spec["model"], spec.get("label"))]


def spec_keywords(spec) -> dict:
    """``Chapter.train`` keywords of a :func:`chapter_runs` entry (its size knobs spread out)."""
    return {"model_name": spec["model"], **{k: v for k, v in spec.items() if k not in ("model", "size")},
            **spec.get("size", {})}


def chapters() -> list[str]:
    return sorted({chapter for chapter, _ in ENTRIES})


def check_profile(profile: str):
    if profile not in PROFILES:
        raise UnknownNameError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")


def get(chapter: str, profile: str) -> Profile:
    check_profile(profile)
    if (chapter, profile) not in ENTRIES:
        if chapter not in chapters():
            raise UnknownNameError(f"unknown chapter {chapter!r}; known: {known(chapters())}")
        raise UnknownNameError(f"chapter {chapter!r} has no {profile!r} profile")
    return ENTRIES[chapter, profile]


def for_model(model: str, profile: str) -> tuple[str, Profile]:
    """(chapter, profile entry) of the chapter that trains ``model``."""
    check_profile(profile)
    for (chapter, entry_profile), entry in ENTRIES.items():
        if entry_profile == profile and model in entry.models:
            return chapter, entry
    models.family(model)                                               # an unknown model: its own line
    raise UnknownNameError(f"no {profile!r} profile trains {model}")
