"""Profiles: how big and how long each chapter's runs are, as plain data.

One entry per (chapter, profile):

- ``smoke``: seconds per chapter on 2 CPU cores, bundled data only. CI and nbval run this.
- ``cpu``: about 10-20 minutes per chapter on 2 cores, on Fashion-MNIST.
- ``gpu``: about 10 minutes on an H100 (an hour on a Colab T4).
- ``paper``: the paper's hyperparameters and dataset; multi-GPU through ``torchrun``.
"""

from dataclasses import dataclass, replace

from . import models
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

    def train_config(self, seed=0, **overrides) -> TrainConfig:
        config = TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, warmup=self.warmup,
                             ema=self.ema, checkpoint_every=self.checkpoint_every, seed=seed)
        return replace(config, **overrides)


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
        steps=12000, batch_size=64, lr=1e-3, warmup=200, ema=0.999, checkpoint_every=1000),
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
        dataset="fashion_mnist", steps=6000, batch_size=64, lr=1e-3, warmup=200, ema=0.999, checkpoint_every=1000,
        models={"row_lstm": dict(hidden=48, layers=4, output_hidden=128),
                "diagonal_bilstm": dict(hidden=48, layers=4, output_hidden=128),
                "multiscale_pixelrnn": dict(hidden=48, layers=4, output_hidden=128, condition_channels=32)}),
    ("pixelrnn", "paper"): Profile(
        dataset="cifar10", steps=200_000, batch_size=16, lr=1e-3, warmup=1000, ema=0.9995, checkpoint_every=2000,
        models={"row_lstm": dict(hidden=128, layers=12, output_hidden=1024),
                "diagonal_bilstm": dict(hidden=128, layers=12, output_hidden=1024),
                "multiscale_pixelrnn": dict(hidden=128, layers=12, output_hidden=1024, condition_channels=64)}),
    # Gated PixelCNN (van den Oord et al. 2016b). The main runs are unconditional, like the paper's
    # CIFAR-10 model (3.03 bpd); the chapter adds a class-conditional variant (num_classes=10,
    # labelled "given y"). The paper's ImageNet model has 20 layers of 384 maps.
    ("gated_pixelcnn", "smoke"): Profile(
        dataset="digits", steps=150, batch_size=32, lr=3e-3, warmup=10, checkpoint_every=50,
        models={"gated_pixelcnn": dict(channels=16, layers=4, output_hidden=32)}),
    ("gated_pixelcnn", "cpu"): Profile(
        dataset="fashion_mnist", steps=2000, batch_size=32, lr=1e-3, warmup=100,
        models={"gated_pixelcnn": dict(channels=32, layers=6, output_hidden=64)}),
    ("gated_pixelcnn", "gpu"): Profile(
        dataset="fashion_mnist", steps=12000, batch_size=64, lr=1e-3, warmup=200, ema=0.999, checkpoint_every=1000,
        models={"gated_pixelcnn": dict(channels=96, layers=12, output_hidden=256)}),
    ("gated_pixelcnn", "paper"): Profile(
        dataset="cifar10", steps=300_000, batch_size=16, lr=1e-3, warmup=1000, ema=0.9995, checkpoint_every=2000,
        models={"gated_pixelcnn": dict(channels=384, layers=20, output_hidden=1024)}),
    # PixelCNN++ (Salimans et al. 2017): the reference is 160 filters, 5 blocks per resolution,
    # 10 mixtures, dropout 0.5, EMA 0.9995, about 5 days on 8 GPUs for CIFAR-10.
    ("pixelcnn_pp", "smoke"): Profile(
        dataset="digits", colour_dataset="colored_digits", steps=120, batch_size=32, lr=3e-3, warmup=10,
        checkpoint_every=40, ema=0.99,
        models={"pixelcnn_pp": dict(filters=16, resnets=1, mixtures=5, downsamples=2)}),
    ("pixelcnn_pp", "cpu"): Profile(
        dataset="fashion_mnist", colour_dataset="colored_fashion_mnist", steps=450, batch_size=32, lr=2e-3,
        warmup=50, checkpoint_every=150, ema=0.995, eval_images=2000,
        models={"pixelcnn_pp": dict(filters=24, resnets=1, mixtures=10, downsamples=2)}),
    ("pixelcnn_pp", "gpu"): Profile(
        dataset="fashion_mnist", colour_dataset="colored_fashion_mnist", steps=10000, batch_size=64, lr=1e-3,
        warmup=200, checkpoint_every=1000, ema=0.999,
        models={"pixelcnn_pp": dict(filters=80, resnets=3, mixtures=10, downsamples=2, dropout=0.5)}),
    ("pixelcnn_pp", "paper"): Profile(
        dataset="cifar10", colour_dataset="cifar10", steps=500_000, batch_size=16, lr=1e-3, warmup=1000,
        checkpoint_every=2000, ema=0.9995,
        models={"pixelcnn_pp": dict(filters=160, resnets=5, mixtures=10, downsamples=2, dropout=0.5)}),
    # Auxiliary-variable PixelCNNs (Kolesnikov & Lampert 2017). ``dataset`` is the Pyramid's (grey,
    # a power of two), ``colour_dataset`` the Grayscale PixelCNN's and the grey-base pyramid's.
    # The paper's models are PixelCNN++-sized (CIFAR-10) and train for days on GPUs.
    ("auxiliary", "smoke"): Profile(
        dataset="digits", colour_dataset="colored_digits", steps=80, batch_size=32, lr=3e-3, warmup=10,
        checkpoint_every=40, ema=0.99,
        models={"grayscale_pixelcnn": dict(hidden=8, layers=2, output_hidden=16, filters=12, resnets=1,
                                           mixtures=3, downsamples=1, embedding=8),
                "pyramid_pixelcnn": dict(base=2, base_filters=8, base_resnets=1, filters=12, resnets=1,
                                         mixtures=3, embedding=8)}),
    ("auxiliary", "cpu"): Profile(
        dataset="fashion_mnist32", colour_dataset="colored_fashion_mnist", steps=250, batch_size=32, lr=2e-3,
        warmup=50, checkpoint_every=100, ema=0.995, eval_images=1000,
        models={"grayscale_pixelcnn": dict(hidden=24, layers=5, output_hidden=64, filters=24, resnets=1,
                                           mixtures=5, downsamples=2, embedding=16),
                "pyramid_pixelcnn": dict(base=4, base_filters=24, base_resnets=1, filters=24, resnets=1,
                                         mixtures=5, embedding=16, embedding_layers=4)}),
    ("auxiliary", "gpu"): Profile(
        dataset="fashion_mnist32", colour_dataset="colored_fashion_mnist", steps=8000, batch_size=64, lr=1e-3,
        warmup=200, checkpoint_every=1000, ema=0.999,
        models={"grayscale_pixelcnn": dict(hidden=64, layers=10, output_hidden=256, filters=80, resnets=3,
                                           mixtures=10, downsamples=2, embedding=64),
                "pyramid_pixelcnn": dict(base=4, base_filters=80, base_resnets=3, filters=64, resnets=2,
                                         mixtures=10, embedding=64, embedding_layers=6)}),
    ("auxiliary", "paper"): Profile(
        dataset="celeba128", colour_dataset="cifar10", steps=300_000, batch_size=16, lr=1e-3, warmup=1000,
        checkpoint_every=2000, ema=0.9995,
        models={"grayscale_pixelcnn": dict(hidden=128, layers=15, output_hidden=1024, filters=160, resnets=5,
                                           mixtures=10, downsamples=2, embedding=160),
                "pyramid_pixelcnn": dict(base=8, base_filters=160, base_resnets=5, filters=128, resnets=2,
                                         mixtures=10, embedding=128, embedding_layers=12)}),
    # ImageGPT (Chen et al. 2020): iGPT-S is 24 layers of width 512 (8 heads) over 32x32 images in
    # a 512-colour palette; ``colour_dataset`` is the palette variant's. The sub-pixel models read
    # C*H*W tokens, so the paper profile's CIFAR-10 sequence is 3072 long. cpu: one step of 16
    # images at 784 tokens takes ~0.75 s on 2 cores, and the chapter trains two models.
    ("imagegpt", "smoke"): Profile(
        dataset="digits", colour_dataset="colored_digits", steps=150, batch_size=32, lr=3e-3, warmup=10,
        checkpoint_every=50, models={"igpt": dict(width=32, layers=2, heads=2)}),
    ("imagegpt", "cpu"): Profile(
        dataset="fashion_mnist", colour_dataset="colored_fashion_mnist", steps=700, batch_size=16, lr=2e-3,
        warmup=70, checkpoint_every=100, ema=0.995, eval_images=2000,
        models={"igpt": dict(width=64, layers=4, heads=4)}),
    ("imagegpt", "gpu"): Profile(
        dataset="fashion_mnist", colour_dataset="colored_fashion_mnist", steps=10000, batch_size=64, lr=1e-3,
        warmup=500, checkpoint_every=1000, ema=0.999,
        models={"igpt": dict(width=256, layers=8, heads=8)}),
    ("imagegpt", "paper"): Profile(
        dataset="cifar10", colour_dataset="cifar10", steps=500_000, batch_size=32, lr=1e-3, warmup=5000,
        checkpoint_every=2000, ema=0.9995, models={"igpt": dict(width=512, layers=24, heads=8)}),
}

# The palette size of each profile's palette variant (iGPT: 512 colours).
PALETTE = {"smoke": 8, "cpu": 16, "gpu": 64, "paper": 512}


# The sampling benchmark's scale per profile (the fast_sampling chapter and `bench sampling`).
BENCH = {
    "smoke": dict(size=8, batches=[1, 4]),
    "cpu": dict(size=28, batches=[1, 16, 64]),
    "gpu": dict(size=28, batches=[1, 16, 64, 256]),
    "paper": dict(size=32, batches=[1, 16, 256]),
}


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
