"""The fast PixelRNN recurrences compute what the plain loops of the paper compute.

pixelbook/models/pixelrnn.py runs the Row LSTM on per-row views of a gates-last map, and the
Diagonal BiLSTM diagonal by diagonal on the image's pixels gathered in diagonal order, with its
gates as one linear map. Here each recurrent layer is recomputed the straightforward way (section
3 of the paper): the Row LSTM row by row, each direction of the Diagonal BiLSTM column by column of
the skewed map with its state masked to zero outside the image, the reverse direction on the
flipped map. log_prob and its gradient must agree to 1e-9 in float64, for every family of the file.
"""

import functools

import pytest
import torch
import torch.nn.functional as F

import pixelbook as pb
from pixelbook.layers import skew, unskew
from pixelbook.models.pixelrnn import DiagonalBiLSTMLayer, RowLSTMLayer

TOL = 1e-9


def cell(gates, c):
    """Eq. 3; ``gates`` [B, 4h, ...] = (i, f, o, g) on dim 1."""
    i, f, o, g = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def input_term(lstm, x, condition):
    """The input-to-state convolution, plus the 1x1 convolution of the conditioning map."""
    gates = lstm.input_to_state(x)
    return gates if condition is None else gates + lstm.condition(condition)


def row_lstm_layer(layer, x, condition=None):
    """Row by row: the input-to-state term of the row, plus the 1xk convolution of the row above."""
    gates_in = input_term(layer, x, condition)                         # [B, 4h, H, W]
    h = c = x.new_zeros(x.shape[0], layer.hidden, x.shape[3])          # [B, h, W]
    rows = []
    for r in range(x.shape[2]):
        h, c = cell(gates_in[:, :, r] + layer.state_to_state(h), c)
        rows.append(h)
    return x + layer.output(torch.stack(rows, 2))


def diagonal_lstm(lstm, x, condition=None):
    """Column by column of the skewed map: the 2x1 convolution of the previous column (rows r-1
    and r, zero-padded at the top), the state held at zero outside the image."""
    B, _, H, W = x.shape
    gates_in = skew(input_term(lstm, x, condition))                    # [B, 4h, H, W+H-1]
    inside = skew(x.new_ones(1, 1, H, W))[0, 0]                        # [H, W+H-1]
    h = c = x.new_zeros(B, lstm.hidden, H)
    columns = []
    for t in range(W + H - 1):
        h, c = cell(gates_in[..., t] + lstm.state_to_state(F.pad(h, (1, 0))), c)
        h, c = h * inside[:, t], c * inside[:, t]
        columns.append(h)
    return unskew(torch.stack(columns, 3), W)                          # [B, h, H, W]


def diagonal_bilstm_layer(layer, x, condition=None):
    """The reverse direction on the width-flipped map, flipped back and shifted down one row."""
    flipped = None if condition is None else condition.flip(3)
    forward = diagonal_lstm(layer.left_to_right, x, condition)
    backward = diagonal_lstm(layer.right_to_left, x.flip(3), flipped).flip(3)
    return x + layer.output(forward + F.pad(backward, (0, 0, 1, 0))[:, :, :-1])


def log_prob_and_grads(model, x):
    model.zero_grad()
    log_prob = model.log_prob(x)
    log_prob.sum().backward()
    return log_prob.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


CASES = [
    ("row_lstm", (1, 5, 7), 16, dict(hidden=4, layers=2)),
    ("row_lstm", (3, 4, 5), 256, dict(hidden=6, layers=1)),
    ("diagonal_bilstm", (1, 5, 7), 16, dict(hidden=4, layers=2)),
    ("diagonal_bilstm", (3, 6, 4), 256, dict(hidden=6, layers=2)),
    ("diagonal_bilstm", (1, 1, 5), 4, dict(hidden=4, layers=1)),
    ("diagonal_bilstm", (3, 6, 1), 4, dict(hidden=3, layers=1)),
    ("multiscale_pixelrnn", (1, 6, 6), 16, dict(hidden=4, layers=2, condition_channels=4)),
    ("multiscale_pixelrnn", (3, 5, 7), 16, dict(hidden=6, layers=1, condition_channels=5)),
]


@pytest.mark.parametrize("name,shape,levels,size", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_log_prob_and_gradients_equal_the_plain_loops(name, shape, levels, size, monkeypatch):
    torch.manual_seed(0)
    model = pb.models.create(name, shape, levels, **size).double()
    x = torch.randint(0, levels, (3, *shape), generator=torch.Generator().manual_seed(1))
    log_prob, grads = log_prob_and_grads(model, x)
    layers = [m for m in model.modules() if isinstance(m, (RowLSTMLayer, DiagonalBiLSTMLayer))]
    assert layers
    for layer in layers:
        reference = row_lstm_layer if isinstance(layer, RowLSTMLayer) else diagonal_bilstm_layer
        monkeypatch.setattr(layer, "forward", functools.partial(reference, layer))
    expected, expected_grads = log_prob_and_grads(model, x)
    torch.testing.assert_close(log_prob, expected, rtol=0, atol=TOL)
    for name_, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name_], rtol=0, atol=TOL, msg=name_)


def test_the_layers_keep_their_parameters():
    """Committed weights still load: the same names and shapes as before the fast recurrences."""
    shapes = lambda layer: {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    row = {"input_to_state.weight": (24, 12, 1, 3), "state_to_state.weight": (24, 6, 3), "output.weight": (12, 6, 1, 1)}
    assert shapes(RowLSTMLayer(6, 3)) == {**row, "input_to_state.bias": (24,), "state_to_state.bias": (24,),
                                           "output.bias": (12,)}
    direction = {"input_to_state.weight": (24, 12, 1, 1), "input_to_state.bias": (24,),
                 "condition.weight": (24, 5, 1, 1), "condition.bias": (24,),
                 "state_to_state.weight": (24, 6, 2), "state_to_state.bias": (24,)}
    assert shapes(DiagonalBiLSTMLayer(6, 3, condition_channels=5)) == {
        **{f"{d}.{k}": v for d in ("left_to_right", "right_to_left") for k, v in direction.items()},
        "output.weight": (12, 6, 1, 1), "output.bias": (12,)}


@pytest.mark.parametrize("name", ["row_lstm", "diagonal_bilstm", "multiscale_pixelrnn"])
def test_every_tensor_is_made_on_the_device_of_the_parameters(name):
    """The meta device stands in for CUDA: a tensor made on the CPU by default would not mix."""
    model = pb.models.create(name, (3, 5, 6), 256, hidden=6, layers=1).to("meta")
    x = torch.zeros(2, 3, 5, 6, dtype=torch.long, device="meta")
    if name == "multiscale_pixelrnn":
        model, condition = model.fine, torch.zeros(2, 3, 3, 3, dtype=torch.long, device="meta")
    else:
        condition = None
    out = model.network(model.unit_input(x), condition=condition)
    out.sum().backward()
    assert out.device.type == "meta" and out.shape == (2, 3 * 256, 5, 6)
    assert all(p.grad.device.type == "meta" for p in model.parameters())
