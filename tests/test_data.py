"""Datasets through their real on-disk formats, written small into tmp_path, and the transforms."""

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelbook import data
from pixelbook.errors import DatasetError, InputError, UnknownNameError

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def one_line_error(excinfo, fragment):
    message = str(excinfo.value)
    assert fragment in message
    assert "\n" not in message


# --- writers of the real formats -------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> Path:
    """IDX: magic 0x0000 08 <ndim>, big-endian uint32 sizes, then the bytes; gzipped for .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    content = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)
    return path


def random_images(n, shape, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_mnist_like(folder: Path, gz: bool, train=5, test=3):
    """The four MNIST files; returns {split: (images, labels)} as written."""
    suffix = ".gz" if gz else ""
    written = {}
    for split, prefix, n in (("train", "train", train), ("test", "t10k", test)):
        images = random_images(n, (28, 28), seed=n)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        written[split] = (images, labels)
    return written


def write_cifar(root: Path):
    """cifar-10-batches-py with two images per training batch and three test images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {"train": [], "test": []}
    files = [(f"data_batch_{i}", "train", 2) for i in range(1, 6)] + [("test_batch", "test", 3)]
    for seed, (file, split, n) in enumerate(files):
        rows = random_images(n, (3072,), seed)
        labels = [int(label) for label in np.arange(n) + seed % 10]
        batch = {b"batch_label": file.encode(), b"data": rows, b"labels": labels,
                 b"filenames": [b"x.png"] * n}
        (folder / file).write_bytes(pickle.dumps(batch, protocol=2))
        written[split].append((rows, labels))
    meta = {b"label_names": [b"airplane"] * 10, b"num_cases_per_batch": 2, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder, written


CELEBA_COLORS = {"000001.jpg": (255, 0, 0), "000002.jpg": (0, 255, 0),
                 "000003.jpg": (0, 0, 255), "000004.jpg": (255, 255, 0)}
CELEBA_PARTITION = {"000001.jpg": 0, "000002.jpg": 0, "000003.jpg": 1, "000004.jpg": 2}


def write_celeba(root: Path):
    """Four plain-coloured 178x218 JPEGs, two train, one valid, one test."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    for file, color in CELEBA_COLORS.items():
        Image.new("RGB", (178, 218), color).save(folder / "img_align_celeba" / file)
    lines = [f"{file} {part}" for file, part in CELEBA_PARTITION.items()]
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def no_system_fashion(monkeypatch, tmp_path):
    """Hide /usr/share/datasets/fashion-mnist; the 'system' folder becomes an empty tmp one."""
    system = tmp_path / "system"
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIRS", (system,))
    return system


# --- digits ------------------------------------------------------------------------------------


def test_digits_shapes_range_and_split_sizes():
    train, test = data.load("digits", "train"), data.load("digits", "test")
    assert (len(train), len(test)) == (1500, 297)
    for part in (train, test):
        assert part.images.dtype == part.labels.dtype == torch.int64
        assert part.image_shape == (1, 8, 8) and part.levels == 256 and part.num_classes == 10
        assert part.images.min() == 0 and part.images.max() == 255
        assert set(part.labels.tolist()) == set(range(10))


def test_digits_split_is_a_deterministic_partition_of_all_digits():
    from sklearn.datasets import load_digits

    everything = load_digits()
    expected = np.round(everything.images * 255 / 16).reshape(len(everything.images), -1)
    expected = sorted(zip(map(bytes, expected.astype(np.uint8)), everything.target.tolist()))
    train, test = data.load("digits", "train"), data.load("digits", "test")
    images = torch.cat([train.images, test.images]).flatten(1).to(torch.uint8).numpy()
    labels = torch.cat([train.labels, test.labels]).tolist()
    assert sorted(zip(map(bytes, images), labels)) == expected  # each digit in exactly one split
    again = data.load("digits", "train")
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)


def test_loaded_tensors_can_be_modified_without_changing_the_next_load():
    data.load("digits").images.zero_()
    assert data.load("digits").images.max() == 255


def test_levels_quantises_and_subset_takes_the_first_images():
    four = data.load("digits", levels=4)
    assert four.levels == 4 and set(four.images.unique().tolist()) == {0, 1, 2, 3}
    small = four.subset(10)
    assert len(small) == 10 and torch.equal(small.images, four.images[:10])
    assert four.subset(None) is four
    with pytest.raises(InputError) as excinfo:
        four.subset(5000)
    one_line_error(excinfo, "choose n in 0..1500")
    with pytest.raises(InputError) as excinfo:
        data.load("binarized_mnist", levels=4)
    one_line_error(excinfo, "choose levels in 2..2")


def test_colored_digits_keep_their_colours_and_foreground_is_brighter():
    grey = data.load("digits", "test").images
    colored = data.load("colored_digits", "test")
    assert colored.image_shape == (3, 8, 8)
    assert torch.equal(colored.labels, data.load("digits", "test").labels)
    assert torch.equal(colored.images, data.load("colored_digits", "test").images)
    background = (grey == 0).expand_as(colored.images)
    foreground = (grey == 255).expand_as(colored.images)
    assert colored.images[background].max() < 128 <= colored.images[foreground].min()


def test_colorize_depends_only_on_the_seed():
    grey = torch.tensor([[[[0, 128, 255]]], [[[255, 0, 64]]]])  # [2, 1, 1, 3]
    first, again, other = data.colorize(grey, 7), data.colorize(grey, 7), data.colorize(grey, 8)
    assert first.shape == (2, 3, 1, 3)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert (first[0, :, 0, 0] < 128).all() and (first[0, :, 0, 2] >= 128).all()  # grey 0, 255
    assert (first[1, :, 0, 1] < 128).all() and (first[1, :, 0, 0] >= 128).all()


# --- IDX: fashion_mnist, mnist, binarized_mnist --------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_idx_files_round_trip(tmp_path, no_system_fashion, gz):
    written = write_mnist_like(tmp_path / "fashion-mnist", gz=gz)
    for split, (images, labels) in written.items():
        loaded = data.load("fashion_mnist", split, root=tmp_path, download=False)
        assert loaded.images.dtype == torch.int64 and loaded.image_shape == (1, 28, 28)
        assert np.array_equal(loaded.images[:, 0].numpy(), images)
        assert np.array_equal(loaded.labels.numpy(), labels)


def test_fashion_mnist_found_in_system_folder_then_pixelbook_data(tmp_path, no_system_fashion,
                                                                  monkeypatch):
    write_mnist_like(no_system_fashion, gz=True, train=4)
    assert len(data.load("fashion_mnist", root=tmp_path / "elsewhere", download=False)) == 4
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIRS", ())
    write_mnist_like(tmp_path / "env", gz=False, train=6)  # files directly in $PIXELBOOK_DATA
    monkeypatch.setenv("PIXELBOOK_DATA", str(tmp_path / "env"))
    assert data.data_root() == tmp_path / "env"
    assert len(data.load("fashion_mnist", download=False)) == 6


def test_colored_fashion_mnist_is_colorized_fashion_mnist(tmp_path, no_system_fashion):
    write_mnist_like(tmp_path / "fashion-mnist", gz=True)
    grey = data.load("fashion_mnist", root=tmp_path, download=False)
    colored = data.load("colored_fashion_mnist", root=tmp_path, download=False)
    assert colored.image_shape == (3, 28, 28)
    assert torch.equal(colored.images, data.colorize(grey.images, data.COLOR_SEED))


def test_fashion_mnist32_is_fashion_mnist_with_a_black_border(tmp_path, no_system_fashion):
    write_mnist_like(tmp_path / "fashion-mnist", gz=True)
    grey = data.load("fashion_mnist", root=tmp_path, download=False)
    padded = data.load("fashion_mnist32", root=tmp_path, download=False)
    assert padded.image_shape == (1, 32, 32) and torch.equal(padded.images[:, :, 2:30, 2:30], grey.images)
    border = padded.images.clone()
    border[:, :, 2:30, 2:30] = 0
    assert (border == 0).all() and torch.equal(padded.labels, grey.labels)


def test_mnist_reads_torchvision_raw_layout_and_binarizes_deterministically(tmp_path):
    written = write_mnist_like(tmp_path / "MNIST" / "raw", gz=False)
    mnist = data.load("mnist", "test", root=tmp_path, download=False)
    assert np.array_equal(mnist.images[:, 0].numpy(), written["test"][0])
    binary = data.load("binarized_mnist", "test", root=tmp_path, download=False)
    assert binary.levels == 2 and binary.image_shape == (1, 28, 28)
    assert set(binary.images.unique().tolist()) == {0, 1}
    assert (binary.images[mnist.images == 0] == 0).all()  # p = 0
    assert (binary.images[mnist.images == 255] == 1).all()  # p = 1
    assert torch.equal(binary.images, data.load("binarized_mnist", "test", root=tmp_path,
                                                download=False).images)


@pytest.mark.skipif(not SYSTEM_FASHION_MNIST.is_dir(),
                    reason="needs /usr/share/datasets/fashion-mnist: "
                           "apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist():
    train, test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.image_shape == test.image_shape == (1, 28, 28)
    assert train.images.max() == 255 and set(test.labels.tolist()) == set(range(10))


# --- CIFAR-10 and CelebA -----------------------------------------------------------------------


def test_cifar10_python_batches_round_trip(tmp_path):
    _, written = write_cifar(tmp_path)
    train = data.load("cifar10", "train", root=tmp_path, download=False)
    test = data.load("cifar10", "test", root=tmp_path, download=False)
    assert (len(train), len(test)) == (10, 3) and train.image_shape == (3, 32, 32)
    rows, labels = written["test"][0]
    channel, y, x = 2, 5, 7  # row layout: red plane, green plane, blue plane, each row-major
    assert test.images[1, channel, y, x] == rows[1, channel * 1024 + y * 32 + x]
    assert np.array_equal(test.images.flatten(1).numpy(), rows)
    assert test.labels.tolist() == labels
    first_rows, _ = written["train"][0]
    assert np.array_equal(train.images[:2].flatten(1).numpy(), first_rows)


def test_celeba_crop_resize_and_partition(tmp_path):
    write_celeba(tmp_path)
    train = data.load("celeba", "train", root=tmp_path, download=False)
    test = data.load("celeba", "test", root=tmp_path, download=False)
    assert (len(train), len(test)) == (2, 1) and train.image_shape == (3, 32, 32)
    assert train.num_classes is None and (train.labels == 0).all()
    mean_colors = lambda images: images.float().mean((2, 3)).tolist()
    expected = lambda *files: [CELEBA_COLORS[file] for file in files]
    assert np.allclose(mean_colors(train.images), expected("000001.jpg", "000002.jpg"), atol=8)
    assert np.allclose(mean_colors(test.images), expected("000004.jpg"), atol=8)
    assert data.load("celeba64", "test", root=tmp_path, download=False).image_shape == (3, 64, 64)
    assert data.load("celeba128", "test", root=tmp_path, download=False).image_shape == (3, 128, 128)
    assert (tmp_path / "celeba" / "celeba-32-train.pt").is_file()


# --- errors: one line each, naming what to do ----------------------------------------------------


def test_unknown_dataset_and_split():
    with pytest.raises(UnknownNameError) as excinfo:
        data.load("imagenet")
    one_line_error(excinfo, "unknown dataset 'imagenet'; known: binarized_mnist, celeba")
    with pytest.raises(InputError) as excinfo:
        data.load("digits", "valid")
    one_line_error(excinfo, "unknown split 'valid'")


def test_missing_fashion_mnist_lists_where_it_looked(tmp_path, no_system_fashion):
    with pytest.raises(DatasetError) as excinfo:
        data.load("fashion_mnist", root=tmp_path / "empty", download=False)
    one_line_error(excinfo, str(no_system_fashion))
    one_line_error(excinfo, str(tmp_path / "empty" / "FashionMNIST" / "raw"))
    one_line_error(excinfo, "apt-get install dataset-fashion-mnist")


def idx_error(tmp_path, write):
    """Write fashion_mnist fixtures, let ``write`` spoil them, and return the load error."""
    folder = tmp_path / "fashion-mnist"
    write_mnist_like(folder, gz=False)
    write(folder)
    with pytest.raises(DatasetError) as excinfo:
        data.load("fashion_mnist", root=tmp_path, download=False)
    return excinfo


def test_truncated_idx(tmp_path, no_system_fashion):
    def truncate(folder):
        path = folder / "train-images-idx3-ubyte"
        path.write_bytes(path.read_bytes()[:-10])

    expected = 16 + 5 * 28 * 28
    one_line_error(idx_error(tmp_path, truncate),
                   f"train-images-idx3-ubyte: truncated, expected {expected} bytes, "
                   f"found {expected - 10}")


def test_wrong_idx_magic(tmp_path, no_system_fashion):
    def spoil_magic(folder):
        path = folder / "train-labels-idx1-ubyte"
        path.write_bytes(b"\x00\x00\x0a\x01" + path.read_bytes()[4:])

    one_line_error(idx_error(tmp_path, spoil_magic), "not an IDX file (magic 0x00000a01)")


def test_corrupt_gzip(tmp_path, no_system_fashion):
    def corrupt(folder):
        (folder / "train-images-idx3-ubyte").unlink()
        (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00 not gzip at all")

    one_line_error(idx_error(tmp_path, corrupt), "train-images-idx3-ubyte.gz: corrupt gzip data")


def test_image_and_label_counts_must_match(tmp_path, no_system_fashion):
    def drop_label(folder):
        write_idx(folder / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))

    one_line_error(idx_error(tmp_path, drop_label), "5 images but")


def test_not_a_cifar_batch(tmp_path):
    folder, _ = write_cifar(tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps({b"labels": [1, 2]}, protocol=2))
    with pytest.raises(DatasetError) as excinfo:
        data.load("cifar10", "test", root=tmp_path, download=False)
    one_line_error(excinfo, "test_batch: not a CIFAR-10 python batch")


def test_cifar_pickle_may_not_name_arbitrary_code(tmp_path):
    folder, _ = write_cifar(tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Path("x")}, protocol=2))
    with pytest.raises(DatasetError) as excinfo:
        data.load("cifar10", "test", root=tmp_path, download=False)
    one_line_error(excinfo, "refusing to load pathlib")


def test_missing_cifar_folder(tmp_path):
    with pytest.raises(DatasetError) as excinfo:
        data.load("cifar10", root=tmp_path, download=False)
    one_line_error(excinfo, f"cifar10: no folder {tmp_path / 'cifar-10-batches-py'}")


def test_check_images_rejects_floats_and_out_of_range():
    with pytest.raises(DatasetError) as excinfo:
        data.check_images(torch.zeros(2, 8, 8), 256)
    one_line_error(excinfo, "not an image array: expected [N, C, H, W] integers, "
                            "got shape [2, 8, 8]")
    with pytest.raises(DatasetError) as excinfo:
        data.check_images(torch.full((1, 1, 2, 2), 256), 256)
    one_line_error(excinfo, "values must lie in [0, 256), found 256..256")


# --- transforms -------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [2, 4, 16, 256])
def test_quantize_is_monotone_from_0_to_levels_minus_1(levels):
    quantized = data.quantize(torch.arange(256).view(1, 1, 16, 16), levels).flatten()
    assert quantized.dtype == torch.int64
    assert quantized[0] == 0 and quantized[-1] == levels - 1
    assert (quantized.diff() >= 0).all() and len(quantized.unique()) == levels


def test_grayscale_white_is_the_top_4_bit_level():
    white = torch.full((1, 3, 2, 2), 255)
    assert (data.grayscale(white) == 15).all() and data.grayscale(white).shape == (1, 1, 2, 2)
    assert (data.grayscale(torch.zeros(1, 3, 2, 2, dtype=torch.long)) == 0).all()


def test_grayscale_of_fewer_levels_and_of_grey_images():
    rgb = torch.tensor([3, 0, 0]).view(1, 3, 1, 1)                   # 4-level RGB: luma 0.897 -> 1
    assert data.grayscale(rgb, 16, from_levels=4).item() == 1            # 16 clipped to the input's 4
    grey = torch.arange(256).view(1, 1, 16, 16)
    assert torch.equal(data.grayscale(grey), data.quantize(grey, 16))
    with pytest.raises(InputError) as excinfo:
        data.grayscale(torch.zeros(1, 2, 2, 2, dtype=torch.long))
    one_line_error(excinfo, "expected 3 RGB channels (or 1 grey)")


def test_downsample_is_the_rounded_mean_of_each_block():
    block = torch.tensor([[10, 11], [13, 200]]).view(1, 1, 2, 2)
    assert data.downsample(block).item() == round(234 / 4)
    image = torch.arange(16).view(1, 1, 4, 4)
    assert data.downsample(image).shape == (1, 1, 2, 2)
    with pytest.raises(InputError) as excinfo:
        data.downsample(torch.zeros(1, 1, 3, 4, dtype=torch.long))
    one_line_error(excinfo, "height and width must be even")
