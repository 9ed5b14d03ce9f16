"""Image datasets as integer tensors, and the transforms the chapters apply to them.

Every dataset arrives as an :class:`ImageSet`: ``images`` int64 ``[N, C, H, W]`` with values in
``[0, levels)``, the form every model in the book takes at its boundary.

===================== ============== ====== ========================================================
name                  shape          levels source
===================== ============== ====== ========================================================
digits                [1, 8, 8]      256    scikit-learn's bundled UCI digits (no download)
colored_digits        [3, 8, 8]      256    ``colorize`` of digits
mnist                 [1, 28, 28]    256    IDX files in ``root/MNIST/raw`` (torchvision downloads)
binarized_mnist       [1, 28, 28]    2      mnist, binarised once with a fixed seed
fashion_mnist         [1, 28, 28]    256    IDX files (Debian package ``dataset-fashion-mnist``)
colored_fashion_mnist [3, 28, 28]    256    ``colorize`` of fashion_mnist
fashion_mnist32       [1, 32, 32]    256    fashion_mnist with 2 black pixels of padding per side
cifar10               [3, 32, 32]    256    python batches in ``root/cifar-10-batches-py``
celeba                [3, 32, 32]    256    ``root/celeba``, centre crop 148x148, resized
celeba64              [3, 64, 64]    256    the same at 64x64
celeba128             [3, 128, 128]  256    the same at 128x128 (the Pyramid PixelCNN's)
===================== ============== ====== ========================================================

Sizes of CelebA are separate names rather than a ``size=`` argument, so that every name in
:func:`names` loads with the same call and has one fixed shape.

Loading keeps the decoded uint8 data in memory and hands out a fresh int64 copy each time, so a
caller may modify what it gets without changing later loads.
"""

import functools
import gzip
import io
import math
import os
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DatasetError, InputError, PixelbookError, UnknownNameError, known
from .storage import write_atomic

SPLITS = ("train", "test")
CELEBA_SIZE = 32
CELEBA_CROP = 148  # of the 178x218 aligned images: the face, without the background
DIGITS_TRAIN_SIZE = 1500  # of 1797; the rest, 297, is the test split
DIGITS_SPLIT_SEED = 0
COLOR_SEED = 1234
BINARIZE_SEED = 2016  # the year of the PixelRNN paper

# Searched first for fashion_mnist; a module attribute so tests can point it elsewhere.
FASHION_MNIST_SYSTEM_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)


@dataclass(frozen=True, repr=False, eq=False)  # eq would compare tensors element-wise
class ImageSet:
    images: torch.Tensor  # int64 [N, C, H, W], values in [0, levels)
    labels: torch.Tensor  # int64 [N]; zeros when the dataset has no labels
    levels: int
    num_classes: int | None
    name: str
    split: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, n: int | None) -> "ImageSet":
        """The first ``n`` images, so a quick run always sees the same ones; ``None``: all."""
        if n is None:
            return self
        if not 0 <= n <= len(self):
            raise InputError(f"subset({n}) of {self.name}/{self.split}: choose n in 0..{len(self)}")
        return ImageSet(self.images[:n], self.labels[:n], self.levels, self.num_classes,
                        self.name, self.split)

    def __repr__(self) -> str:  # the default would print every pixel
        classes = f"{self.num_classes} classes" if self.num_classes else "no labels"
        return (f"ImageSet({self.name}/{self.split}: {len(self)} x {list(self.image_shape)}, "
                f"{self.levels} levels, {classes})")


# ---------------------------------------------------------------------------------------------
# Transforms


def _image_problem(x, levels: int, image_shape=None) -> str | None:
    """Why ``x`` is not a batch of integer images in [0, levels), or None when it is."""
    is_integer = isinstance(x, torch.Tensor) and not (
        x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)
    if not is_integer or x.ndim != 4:
        shape = list(x.shape) if hasattr(x, "shape") else type(x).__name__
        return (f"not an image array: expected [N, C, H, W] integers, "
                f"got shape {shape} dtype {getattr(x, 'dtype', None)}")
    if image_shape is not None and tuple(x.shape[1:]) != tuple(image_shape):
        return f"expected images of shape {list(image_shape)}, got {list(x.shape[1:])}"
    if x.is_meta:                  # shapes only (the device-free CUDA check): no values to read
        return None
    low, high = (x.min().item(), x.max().item()) if x.numel() else (0, 0)
    if low < 0 or high >= levels:  # as Python ints: a uint8 tensor would wrap 256 to 0
        return f"values must lie in [0, {levels}), found {low}..{high}"
    return None


def check_images(x, levels: int, image_shape=None, *, source: str = "images") -> torch.Tensor:
    """Return ``x`` if it is [N, C, H, W] integers in [0, levels), else raise DatasetError."""
    problem = _image_problem(x, levels, image_shape)
    if problem:
        raise DatasetError(f"{source}: {problem}")
    return x


def _require_images(x, levels: int, what: str) -> None:
    problem = _image_problem(x, levels)
    if problem:
        raise InputError(f"{what}: {problem}")


def quantize(images: torch.Tensor, levels: int, from_levels: int = 256) -> torch.Tensor:
    """floor(x * levels / from_levels): [0, from_levels) onto [0, levels), as int64."""
    if not 2 <= levels <= from_levels:
        raise InputError(f"quantize: levels must be in 2..{from_levels}, got {levels}")
    _require_images(images, from_levels, "quantize")
    return images.long() * levels // from_levels


def grayscale(images: torch.Tensor, levels: int = 16, from_levels: int = 256) -> torch.Tensor:
    """Luminance quantised to ``levels`` (4 bits by default, as in Kolesnikov & Lampert 2017):
    [N, 3, H, W] RGB (ITU-R BT.601 luma) or [N, 1, H, W] grey -> [N, 1, H, W] int64 in
    [0, levels). ``from_levels`` is how many levels the input has (256 for 8-bit)."""
    _require_images(images, from_levels, "grayscale")
    if images.shape[1] not in (1, 3):
        raise InputError(f"grayscale: expected 3 RGB channels (or 1 grey), got {images.shape[1]}")
    if images.shape[1] == 1:
        return quantize(images, min(levels, from_levels), from_levels)
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64, device=images.device).view(1, 3, 1, 1)
    luminance = (images.double() * weights).sum(1, keepdim=True).round().long().clamp(max=from_levels - 1)
    return quantize(luminance, min(levels, from_levels), from_levels)


def downsample(images: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling, rounded to the nearest level (ties to even): [N, C, H, W] ->
    [N, C, H/2, W/2], same levels and dtype."""
    _require_images(images, torch.iinfo(torch.int64).max, "downsample")
    if images.shape[2] % 2 or images.shape[3] % 2:
        raise InputError(f"downsample: height and width must be even, got {list(images.shape[2:])}")
    return F.avg_pool2d(images.float(), 2).round().to(images.dtype)


def colorize(images: torch.Tensor, seed: int) -> torch.Tensor:
    """Paint 8-bit greyscale images [N, 1, H, W] in two colours each -> [N, 3, H, W].

    Image i gets a dark background (channels in [0, 128)) and a bright foreground (channels in
    [128, 256)) drawn from a generator seeded with ``seed``; a pixel of grey value v becomes
    round(background + (foreground - background) * v / 255). Same seed, same colours.
    """
    _require_images(images, 256, "colorize")
    if images.shape[1] != 1:
        raise InputError(f"colorize: expected 1 greyscale channel, got {images.shape[1]}")
    generator = torch.Generator().manual_seed(seed)
    n = len(images)
    background = torch.randint(0, 128, (n, 3, 1, 1), generator=generator).float()
    foreground = torch.randint(128, 256, (n, 3, 1, 1), generator=generator).float()
    mixed = background + (foreground - background) * images.float() / 255  # [N, 3, H, W]
    return mixed.round().to(images.dtype)


# ---------------------------------------------------------------------------------------------
# Where data lives


def data_root() -> Path:
    """$PIXELBOOK_DATA, else ``data/`` of the checkout this package sits in, else
    ~/.cache/pixelbook."""
    if os.environ.get("PIXELBOOK_DATA"):
        return Path(os.environ["PIXELBOOK_DATA"]).expanduser()
    checkout = Path(__file__).resolve().parent.parent / "data"
    return checkout if checkout.is_dir() else Path.home() / ".cache" / "pixelbook"


def _download(dataset_class: str, root: Path, **options) -> str:
    """Let torchvision fetch a dataset into ``root``: '' on success, else a note on why not,
    for the error message of a caller that then still finds the files missing."""
    try:
        import torchvision.datasets  # here, not at the top: importing it is slow
        getattr(torchvision.datasets, dataset_class)(root, download=True, **options)
    except Exception as error:  # no network, a bad mirror, a checksum: all mean "not there"
        return f" (download failed: {type(error).__name__}: {error})"
    return ""


# ---------------------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST)


def read_idx(path, ndim: int | None = None) -> torch.Tensor:
    """Read an unsigned-byte IDX file, plain or ``.gz``, as a uint8 tensor of its shape.

    The header is the magic 0x0000 08 <ndim>, then ndim big-endian uint32 sizes; the file must
    hold exactly their product of bytes after it. ``ndim`` checks the number of dimensions.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        raise DatasetError(f"{path}: corrupt gzip data; download it again") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read ({error.strerror or error})") from None
    if len(data) < 4:
        raise DatasetError(f"{path}: truncated, expected at least 4 bytes, found {len(data)}")
    magic = int.from_bytes(data[:4], "big")
    if magic >> 8 != 0x08 or magic & 0xFF == 0:  # 0x0000 08 <ndim>: unsigned bytes
        raise DatasetError(f"{path}: not an IDX file (magic 0x{magic:08x})")
    if ndim is not None and magic & 0xFF != ndim:
        raise DatasetError(f"{path}: expected a {ndim}-D IDX file (magic 0x{0x800 | ndim:08x}), "
                           f"found magic 0x{magic:08x}")
    header = 4 + 4 * (magic & 0xFF)
    if len(data) < header:
        raise DatasetError(f"{path}: truncated, expected at least {header} bytes, "
                           f"found {len(data)}")
    shape = [int.from_bytes(data[i:i + 4], "big") for i in range(4, header, 4)]
    expected = header + int(math.prod(shape))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "trailing data"
        raise DatasetError(f"{path}: {problem}, expected {expected} bytes, found {len(data)}")
    return torch.from_numpy(np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy())


def _find_idx(folder: Path, stem: str) -> Path | None:
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def _read_idx_split(folders, split: str):
    """(images [N, 1, H, W] uint8, labels [N]) from the first folder holding both files."""
    prefix = "train" if split == "train" else "t10k"  # the MNIST file names
    for folder in folders:
        images_path = _find_idx(folder, f"{prefix}-images-idx3-ubyte")
        labels_path = _find_idx(folder, f"{prefix}-labels-idx1-ubyte")
        if images_path and labels_path:
            images, labels = read_idx(images_path, ndim=3), read_idx(labels_path, ndim=1)
            if len(images) != len(labels):
                raise DatasetError(f"{images_path}: {len(images)} images but {labels_path} "
                                   f"has {len(labels)} labels")
            return images.unsqueeze(1), labels.long()
    return None


def _read_idx_dataset(name, split, root, download, folders, dataset_class, how_to_get):
    found = _read_idx_split(folders, split)
    failure = ""
    if found is None and download:
        failure = _download(dataset_class, root)  # into root/<dataset_class>/raw, in folders
        found = _read_idx_split(folders, split)
    if found is None:
        looked = ", ".join(dict.fromkeys(str(folder) for folder in folders))
        raise DatasetError(f"{name}: no {split} IDX files in {looked}{failure}; {how_to_get}")
    return found


def _read_fashion_mnist(split, root, download):
    """The Debian package's folder first, unless $PIXELBOOK_DATA names one: an explicit choice
    wins (the tests point it at IDX files they write, on every machine alike)."""
    own = [root / "fashion-mnist", root]
    folders = ([*own, *FASHION_MNIST_SYSTEM_DIRS] if os.environ.get("PIXELBOOK_DATA")
               else [*FASHION_MNIST_SYSTEM_DIRS, *own]) + [root / "FashionMNIST" / "raw"]
    return _read_idx_dataset("fashion_mnist", split, root, download, folders, "FashionMNIST",
                             "apt-get install dataset-fashion-mnist, or put the four IDX files "
                             "in a folder and set PIXELBOOK_DATA to it")


def _read_mnist(split, root, download):
    return _read_idx_dataset("mnist", split, root, download, [root / "MNIST" / "raw"], "MNIST",
                             "load it once with download=True, or put the four IDX files there "
                             "(or set PIXELBOOK_DATA to a folder holding MNIST/raw)")


def _read_binarized_mnist(split, root, download):
    """PixelRNN (van den Oord et al. 2016) trained on a binarisation of MNIST drawn once at
    random; we draw ours once too: pixel ~ Bernoulli(v / 255) from a fixed seed per split."""
    images, labels = _read("mnist", split, root, download)
    generator = torch.Generator().manual_seed(BINARIZE_SEED + SPLITS.index(split))
    noise = torch.rand(images.shape, generator=generator)
    return (noise < images / 255).to(torch.uint8), labels


def _read_colored_fashion_mnist(split, root, download):
    images, labels = _read("fashion_mnist", split, root, download)
    return colorize(images, COLOR_SEED + SPLITS.index(split)), labels


def _read_fashion_mnist32(split, root, download):
    """Padded to 32x32 (black, the background's colour) so it halves evenly down to 4x4."""
    images, labels = _read("fashion_mnist", split, root, download)
    return F.pad(images, (2, 2, 2, 2)), labels


# ---------------------------------------------------------------------------------------------
# digits (scikit-learn)


@functools.lru_cache(maxsize=1)
def _all_digits():
    """All 1797 digits, 8-bit [N, 1, 8, 8], in scikit-learn's order."""
    from sklearn.datasets import load_digits  # here, not at the top: importing it is slow

    digits = load_digits()
    images = np.round(digits.images * 255 / 16)  # 0..16 -> 0..255
    images = torch.from_numpy(images).to(torch.uint8).unsqueeze(1)  # [1797, 1, 8, 8]
    return images, torch.from_numpy(digits.target).long()


def _digits_split(split, images, labels):
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    chosen = order[:DIGITS_TRAIN_SIZE] if split == "train" else order[DIGITS_TRAIN_SIZE:]
    return images[chosen], labels[chosen]


def _read_digits(split, root, download):
    return _digits_split(split, *_all_digits())


def _read_colored_digits(split, root, download):
    images, labels = _all_digits()
    # coloured before splitting, so an image keeps its colours whichever split it is in
    return _digits_split(split, colorize(images, COLOR_SEED), labels)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 python batches


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays only: a pickle can run any code it names, and a
    data folder should not be able to."""

    allowed = {("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "_reconstruct"),  # numpy 1, as in the real batches
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path):
    try:
        batch = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing; extract cifar-10-python.tar.gz again") from None
    except Exception as error:  # unpickling raises nearly anything on bad input
        raise DatasetError(f"{path}: not a CIFAR-10 python batch ({type(error).__name__}: "
                           f"{error})") from None
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32 and labels is not None and len(labels) == len(data)):
        raise DatasetError(f"{path}: not a CIFAR-10 python batch: expected a dict with b'data' "
                           f"uint8 [n, 3072] and n b'labels'")
    # each row is the red plane, then green, then blue, each 32x32 row-major
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.tensor(labels).long()


def _read_cifar10(split, root, download):
    folder = root / "cifar-10-batches-py"
    failure = ""
    if not folder.is_dir() and download:
        failure = _download("CIFAR10", root, train=True)  # fetches and extracts both splits
    if not folder.is_dir():
        raise DatasetError(f"cifar10: no folder {folder}{failure}; load it with download=True, "
                           f"or extract cifar-10-python.tar.gz into {root} (or set PIXELBOOK_DATA)")
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    batches = [_read_cifar_batch(folder / file) for file in files]
    images, labels = zip(*batches)
    return torch.cat(images), torch.cat(labels)


# ---------------------------------------------------------------------------------------------
# CelebA


def _celeba_files(partition: Path, split: str) -> list[str]:
    """Image names of one split; CelebA's own validation split (1) is not used."""
    wanted = {"train": "0", "test": "2"}[split]
    try:
        lines = partition.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{partition}: cannot read ({error})") from None
    files = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DatasetError(f"{partition}:{number}: expected '<image>.jpg <0|1|2>', "
                               f"found {line!r}")
        if fields[1] == wanted:
            files.append(fields[0])
    if not files:
        raise DatasetError(f"{partition}: lists no {split} images (partition {wanted})")
    return files


def _celeba_image(path: Path, size: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2 import functional as transforms  # slow to import

    if not path.is_file():
        raise DatasetError(f"{path}: missing, but listed in list_eval_partition.txt")
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))  # uint8 [218, 178, 3]
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DatasetError(f"{path}: cannot decode image ({error})") from None
    image = torch.from_numpy(pixels.copy()).permute(2, 0, 1)  # [3, 218, 178]
    image = transforms.center_crop(image, [CELEBA_CROP, CELEBA_CROP])
    return transforms.resize(image, [size, size], antialias=True)  # [3, size, size]


def _read_celeba(split, root, download, size):
    folder = root / "celeba"
    partition = folder / "list_eval_partition.txt"
    failure = ""
    if not partition.is_file() and download:
        failure = _download("CelebA", root, split="all")
    if not partition.is_file():
        raise DatasetError(f"celeba: no {partition}{failure}; put img_align_celeba/ and "
                           f"list_eval_partition.txt in {folder} (or set PIXELBOOK_DATA)")
    # decoding 200,000 JPEGs takes minutes, so the result is kept beside them
    cache = folder / f"celeba-{size}-{split}.pt"
    if cache.is_file():
        try:
            images = torch.load(cache, weights_only=True)
        except Exception as error:
            raise DatasetError(f"{cache}: unreadable ({type(error).__name__}); delete it to "
                               f"decode the images again") from None
    else:
        files = _celeba_files(partition, split)
        images = torch.stack([_celeba_image(folder / "img_align_celeba" / file, size)
                              for file in files])
        buffer = io.BytesIO()
        torch.save(images, buffer)
        try:
            write_atomic(cache, buffer.getvalue())
        except PixelbookError:
            pass  # a read-only folder: decode again next time
    return images, torch.zeros(len(images), dtype=torch.long)


# ---------------------------------------------------------------------------------------------
# The catalogue


@dataclass(frozen=True)
class _Dataset:
    read: Callable  # (split, root, download) -> (uint8 images [N, C, H, W], int64 labels [N])
    image_shape: tuple[int, int, int]
    levels: int = 256
    num_classes: int | None = 10
    test_images: int | None = 10_000    # the size of the whole test split (None: it depends on a random split)


_DATASETS = {
    "digits": _Dataset(_read_digits, (1, 8, 8), test_images=1797 - DIGITS_TRAIN_SIZE),
    "colored_digits": _Dataset(_read_colored_digits, (3, 8, 8), test_images=1797 - DIGITS_TRAIN_SIZE),
    "mnist": _Dataset(_read_mnist, (1, 28, 28)),
    "binarized_mnist": _Dataset(_read_binarized_mnist, (1, 28, 28), levels=2),
    "fashion_mnist": _Dataset(_read_fashion_mnist, (1, 28, 28)),
    "colored_fashion_mnist": _Dataset(_read_colored_fashion_mnist, (3, 28, 28)),
    "fashion_mnist32": _Dataset(_read_fashion_mnist32, (1, 32, 32)),
    "cifar10": _Dataset(_read_cifar10, (3, 32, 32)),
    "celeba": _Dataset(functools.partial(_read_celeba, size=CELEBA_SIZE),
                       (3, CELEBA_SIZE, CELEBA_SIZE), num_classes=None, test_images=None),
    "celeba64": _Dataset(functools.partial(_read_celeba, size=64), (3, 64, 64), num_classes=None, test_images=None),
    "celeba128": _Dataset(functools.partial(_read_celeba, size=128), (3, 128, 128), num_classes=None,
                          test_images=None),
}


def names() -> list[str]:
    """Every dataset name, roughly smallest first."""
    return list(_DATASETS)


def test_split_size(name: str) -> int | None:
    """How many images the whole test split of ``name`` holds, without reading it (None: unknown)."""
    return _dataset(name).test_images


def shape_and_levels(name: str) -> tuple[tuple[int, int, int], int]:
    """([C, H, W], levels) of dataset ``name``, without reading it."""
    dataset = _dataset(name)
    return dataset.image_shape, dataset.levels


def _dataset(name: str) -> _Dataset:
    if name not in _DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; known: {known(_DATASETS)}")
    return _DATASETS[name]


@functools.lru_cache(maxsize=None)
def _read(name: str, split: str, root: Path, download: bool):
    """The checked native data of one split, uint8; kept, so each file is decoded once."""
    dataset = _dataset(name)
    images, labels = dataset.read(split, root, download)
    check_images(images, dataset.levels, dataset.image_shape, source=f"{name} {split} in {root}")
    if labels.shape != (len(images),):
        raise DatasetError(f"{name} {split} in {root}: {len(images)} images but labels of shape "
                           f"{list(labels.shape)}")
    classes = dataset.num_classes
    if classes and len(labels) and not 0 <= labels.min() <= labels.max() < classes:
        raise DatasetError(f"{name} {split} in {root}: labels must lie in [0, {classes}), "
                           f"found {labels.min().item()}..{labels.max().item()}")
    return images, labels


def load(name: str, split: str = "train", levels: int | None = None, root=None,
         download: bool = True) -> ImageSet:
    """Load a dataset split; ``levels`` below the dataset's own quantises it (see quantize).

    ``root`` defaults to :func:`data_root`. With ``download`` a missing dataset is fetched
    there, where torchvision knows how.
    """
    dataset = _dataset(name)
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r} for {name}; choose one of: {', '.join(SPLITS)}")
    if levels is not None and not 2 <= levels <= dataset.levels:
        raise InputError(f"{name} has {dataset.levels} levels; choose levels in "
                         f"2..{dataset.levels}, got {levels}")
    root = Path(root).expanduser().resolve() if root is not None else data_root().resolve()
    images, labels = _read(name, split, root, bool(download))
    images = images.long()  # a new tensor: the caller may modify it, the kept data stays intact
    if levels is not None and levels != dataset.levels:
        images = quantize(images, levels, from_levels=dataset.levels)
    return ImageSet(images, labels.clone(), levels or dataset.levels, dataset.num_classes,
                    name, split)
