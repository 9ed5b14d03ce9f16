"""Weights files: round trip, bf16, and one clear line for every way a file can be wrong."""


import pytest
import torch

import pixelbook as pb
from pixelbook.checkpoint import load_model, read_weights, save_weights
from pixelbook.errors import CheckpointError


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = pb.models.create("pixelcnn", (1, 8, 8), 256, hidden=8, layers=2, output_hidden=16)
    path = tmp_path / "weights.safetensors"
    save_weights(model, path, extra={"dataset": "digits"})
    return model, path


def test_round_trip_rebuilds_the_same_model(saved):
    model, path = saved
    loaded, metadata = load_model(path)
    x = torch.randint(0, 256, (3, 1, 8, 8))
    assert torch.equal(model.log_prob(x), loaded.log_prob(x))
    assert metadata["dataset"] == "digits"
    assert loaded.config == model.config


def test_bf16_halves_the_file(saved, tmp_path):
    model, path = saved
    save_weights(model, tmp_path / "half.safetensors", dtype=torch.bfloat16)
    assert (tmp_path / "half.safetensors").stat().st_size < 0.6 * path.stat().st_size
    loaded, _ = load_model(tmp_path / "half.safetensors")
    assert next(loaded.parameters()).dtype == torch.float32


def one_line(info, fragment):
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_truncated_file(saved):
    _, path = saved
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    one_line(info, "not a readable safetensors file (truncated or corrupt")


def test_garbage_file(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError) as info:
        load_model(tmp_path / "w.safetensors")
    one_line(info, "not a readable safetensors file")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError) as info:
        load_model(tmp_path)
    one_line(info, "no checkpoint at")


def test_expectation_mismatch(saved):
    _, path = saved
    with pytest.raises(CheckpointError) as info:
        load_model(path, expect={"image_shape": [1, 28, 28]})
    one_line(info, "holds pixelcnn with image_shape=[1, 8, 8], not [1, 28, 28]")
    with pytest.raises(CheckpointError) as info:
        load_model(path, expect={"model": "row_lstm"})
    one_line(info, "holds pixelcnn with model=pixelcnn, not row_lstm")


def test_weights_that_do_not_fit_the_described_model(saved, tmp_path):
    model, _ = saved
    other = pb.models.create("pixelcnn", (1, 8, 8), 256, hidden=8, layers=3, output_hidden=16)
    other.config = model.config                   # a file whose metadata lies about its tensors
    save_weights(other, tmp_path / "lie.safetensors")
    with pytest.raises(CheckpointError) as info:
        load_model(tmp_path / "lie.safetensors")
    one_line(info, "does not fit pixelcnn")


def test_a_safetensors_file_from_elsewhere(tmp_path):
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError) as info:
        read_weights(tmp_path / "x.safetensors")
    one_line(info, "not a pixelbook weights file")


def test_metadata_names_an_unknown_model(saved, tmp_path):
    model, _ = saved
    model.config = {**model.config, "model": "pixelcnn_v9"}
    save_weights(model, tmp_path / "v9.safetensors")
    with pytest.raises(CheckpointError) as info:
        load_model(tmp_path / "v9.safetensors")
    one_line(info, "cannot rebuild its model (unknown model 'pixelcnn_v9'")
