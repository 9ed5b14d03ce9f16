"""PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016): Row LSTM, Diagonal BiLSTM, Multi-Scale.

Both LSTM variants share the paper's skeleton (Table 1): a 7x7 mask-A convolution, then
``layers`` recurrent layers with residual connections (2h maps in, h per gate, a 1x1 projection
back to 2h, plus the input), then two mask-B 1x1 layers and a softmax per sub-pixel. Each layer
has its own weights. The gates follow eq. 3: i, f and o are sigmoids and the candidate g is a
tanh, c = f * c_prev + i * g and h = o * tanh(c). Colour is masked as in the PixelCNN: each gate's
h maps are split into R, G and B groups, and the input-to-state convolutions are mask B.

- **Row LSTM** (section 3.1) runs row by row, with all gates of a row computed at once. The
  input-to-state term is a 1xk mask-B convolution along the row (k = 3: the pixel and its left
  neighbour). The state-to-state term is a 1xk convolution of the previous row's hidden state.
  The receptive field is a triangle over the rows above, so it misses pixels far to the upper
  right and far to the left on the rows just above (:meth:`RowLSTM.context`).
- **Diagonal BiLSTM** (section 3.2) skews the input (row i shifted right by i), so each diagonal
  becomes a column. Each direction runs column by column. Its input-to-state term is a 1x1 mask-B
  convolution, and its state-to-state term is a 2x1 convolution over the previous column (the
  pixel above and the pixel to the left, zero-padded at the top). States outside the image are
  held at zero. The second direction runs on the width-flipped map and is flipped back, then
  shifted down one row before the two are added, so it brings the upper-right context without
  seeing the future. One layer sees every earlier pixel. The code keeps each column without its
  padding (the image's pixels gathered diagonal by diagonal, :func:`diagonal_order`), and as
  every term of a step is 1x1, it computes the gates as one linear map of the pixel's input and
  the two states.
- **Multi-Scale PixelRNN** (section 3.6): an unconditional Diagonal BiLSTM on the 2x average-pooled
  image, and a conditional one at full resolution. Transposed convolutions upsample the coarse
  image into a conditioning map, and a 1x1 convolution of that map is added to the
  input-to-state term of every layer.

Sampling keeps each layer's recurrent state, so a new pixel costs one LSTM cell per layer (plus,
for the Diagonal BiLSTM, one pass of the reverse stream over each finished row) instead of a
whole forward pass.

Left out: the paper's 12-layer, h = 128 CIFAR-10 models are the ``paper`` profile; the smaller
profiles shrink them. The paper's multi-scale model subsamples the image. Ours average-pools it,
and both are deterministic functions of the image.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers import MaskedConv2d, OutputHead, channel_groups
from ..likelihoods import Categorical
from ..sampling import Sampler
from . import register
from ..errors import InputError
from .base import AutoregressiveModel, spatial_context
from .staged import StagedModel, halve


def lstm_cell(gates, c):
    """Eq. 3 of the paper; ``gates`` is gate-major along its last dim, [..., 4h] = (i, f, o, g)."""
    i, f, o, g = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gate_groups(hidden, groups):
    """Colour group of each of the 4h gate maps: gate-major, each gate split like the state."""
    return channel_groups(hidden, groups).repeat(4)


def pixel(t, i, j):
    """[B, C, H, W] -> the 1x1 map at (i, j), [B, C, 1, 1], so 1x1 convolutions apply as they are."""
    return t[:, :, i: i + 1, j: j + 1]


def diagonal_order(H, W, device, reverse=False):
    """The positions i*W + j of an H x W image diagonal by diagonal (d = i + j, top row first), and
    the diagonals' lengths: the skewed map's columns, without the padding around the image. With
    ``reverse``, the diagonals of the width-flipped image (j -> W-1-j)."""
    i, j = torch.arange(H, device=device)[:, None], torch.arange(W, device=device)
    d = i + (W - 1 - j if reverse else j)                              # [H, W]
    sizes = [min(k, H - 1) - max(0, k - W + 1) + 1 for k in range(H + W - 1)]  # rows max(0, k-W+1)..min(H-1, k)
    return (d * H + i).flatten().argsort(), sizes


def in_order(t, order):
    """[B, C, H, W] -> its pixels in ``order``, [B, len(order), C]. Maps last in memory first, so
    that the gather moves whole pixels."""
    t = t.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).flatten(1, 2)
    return t.index_select(1, order)


class GatedInput(nn.Module):
    """The input-to-state term: a mask-B convolution to the 4h gates, plus a 1x1 convolution of
    the conditioning map when there is one (the multi-scale model)."""

    def __init__(self, hidden, groups, condition_channels, kernel):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(2 * hidden, 4 * hidden, kernel, "B", groups,
                                           out_groups=gate_groups(hidden, groups))
        self.condition = nn.Conv2d(condition_channels, 4 * hidden, 1) if condition_channels else None

    def gates_from_input(self, x, condition=None):
        gates = self.input_to_state(x)                                 # [B, 4h, H, W]
        return gates if condition is None else gates + self.condition(condition)


class RowLSTMLayer(GatedInput):
    def __init__(self, hidden, groups, condition_channels=0, kernel=3):
        super().__init__(hidden, groups, condition_channels, (1, kernel))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, kernel, padding=kernel // 2)  # the row above
        self.output = MaskedConv2d(hidden, 2 * hidden, 1, "B", groups, in_groups=channel_groups(hidden, groups))

    def forward(self, x, condition=None):
        B, _, H, W = x.shape
        s2s, k = self.state_to_state, self.state_to_state.kernel_size[0]
        # Rows first and gates last, copied once: each row is then a view, and the gradient of all
        # of them one stack, not a zero-filled copy of the whole map per row.
        gates_in = self.gates_from_input(x, condition).permute(0, 2, 3, 1).contiguous()   # [B, H, W, 4h]
        weight = s2s.weight.transpose(1, 2).flatten(1)                 # [4h, k*h]: the 1xk taps in turn
        h = c = x.new_zeros(B, W, self.hidden)                         # one row: [B, W, h]
        rows = []
        for gates in gates_in.unbind(1):                               # [B, W, 4h]
            above = F.pad(h, (0, 0, k // 2, k // 2))                   # the row above, zero-padded
            taps = torch.cat([above[:, t: t + W] for t in range(k)], 2)   # [B, W, k*h]
            h, c = lstm_cell(gates + F.linear(taps, weight, s2s.bias), c)
            rows.append(h)
        return x + self.output(torch.stack(rows, 1).permute(0, 3, 1, 2))   # [B, 2h, H, W]

    # -- incremental sampling: the previous row's states ---------------------------------------
    def start(self, like):
        zeros = like.new_zeros(like.shape[0], self.hidden, like.shape[3])
        return {"above": self.state_to_state(zeros), "c_above": zeros, "h": zeros.clone(), "c": zeros.clone()}

    def step(self, state, row, i, j, condition):
        """The output at (i, j), [B, 2h, 1, 1]; ``row`` is this layer's input on row i so far."""
        gates = self.input_to_state.at(row, 0, j) + state["above"][:, :, j]
        if condition is not None:
            gates = gates + self.condition(pixel(condition, i, j))[:, :, 0, 0]
        h, c = lstm_cell(gates, state["c_above"][:, :, j])
        state["h"][:, :, j], state["c"][:, :, j] = h, c
        return pixel(row, 0, j) + self.output(h[..., None, None])

    def end_row(self, state, row, i, condition):
        state["above"], state["c_above"] = self.state_to_state(state["h"]), state["c"]
        state["h"], state["c"] = torch.zeros_like(state["h"]), torch.zeros_like(state["c"])


class DiagonalLSTM(GatedInput):
    """One direction of the Diagonal BiLSTM, a diagonal (a column of the skewed map) per step."""

    def __init__(self, hidden, groups, condition_channels=0):
        super().__init__(hidden, groups, condition_channels, 1)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)        # rows r-1 and r of the previous column

    def forward(self, x, condition=None, reverse=False):
        """[B, 2h, H, W] -> [B, h, H, W]; ``reverse`` runs on the width-flipped image, flipped back."""
        B, _, H, W = x.shape
        # The pixels diagonal by diagonal: each step reads a view, and the gradient of all of them
        # is one cat, where indexing a column of the skewed map zero-filled a copy of it per step.
        order, sizes = diagonal_order(H, W, x.device, reverse)
        inputs = torch.cat([in_order(t, order) for t in (x, condition) if t is not None], 2)  # [B, H*W, 2h(+cc)]
        weight, bias = self.gate_weights()
        zero = x.new_zeros(B, 1, self.hidden)
        h = c = x.new_zeros(B, 0, self.hidden)                         # diagonal d-1: [B, n, h]
        diagonals = []
        for d, x_d in enumerate(inputs.split(sizes, 1)):               # [B, n, 2h]: rows lo..hi of diagonal d
            # Diagonal d-1 as rows lo-1..hi, so that row r reads its rows r-1 (above) and r (left).
            # It lacks row -1 (above the image) while d < W, and row d (left of it) while d < H.
            top, bottom = [zero] * (d < W), [zero] * (d < H)
            h, c = torch.cat(top + [h] + bottom, 1), torch.cat(top + [c] + bottom, 1)
            gates = F.linear(torch.cat([x_d, h[:, :-1], h[:, 1:]], 2), weight, bias)       # [B, n, 4h]
            h, c = lstm_cell(gates, c[:, 1:])
            diagonals.append(h)
        h = torch.cat(diagonals, 1).index_select(1, order.argsort())   # [B, H*W, h], raster order
        return h.unflatten(1, (H, W)).permute(0, 3, 1, 2).contiguous()  # [B, h, H, W]

    def gate_weights(self):
        """The gates as one linear map of (input, condition, state above, state left), as all four
        terms are 1x1: weight [4h, 2h + cc + 2h] and bias [4h]."""
        weights = [(self.input_to_state.weight * self.input_to_state.mask)[:, :, 0, 0]]
        bias = self.input_to_state.bias + self.state_to_state.bias
        if self.condition is not None:
            weights.append(self.condition.weight[:, :, 0, 0])
            bias = bias + self.condition.bias
        weights.append(self.state_to_state.weight.transpose(1, 2).flatten(1))
        return torch.cat(weights, 1), bias

    def cell(self, x, condition, above, left, c_left):
        """One position, unskewed: its input [B, 2h, 1, 1] and the states above and to the left."""
        gates = self.gates_from_input(x, condition)[:, :, 0, 0]
        w = self.state_to_state.weight                                 # [4h, h, 2]: (above, left)
        gates = gates + above @ w[:, :, 0].T + left @ w[:, :, 1].T + self.state_to_state.bias
        return lstm_cell(gates, c_left)


class DiagonalBiLSTMLayer(nn.Module):
    def __init__(self, hidden, groups, condition_channels=0):
        super().__init__()
        self.left_to_right = DiagonalLSTM(hidden, groups, condition_channels)
        self.right_to_left = DiagonalLSTM(hidden, groups, condition_channels)
        self.output = MaskedConv2d(hidden, 2 * hidden, 1, "B", groups, in_groups=channel_groups(hidden, groups))

    def forward(self, x, condition=None):
        forward = self.left_to_right(x, condition)
        backward = self.right_to_left(x, condition, reverse=True)
        backward = F.pad(backward, (0, 0, 1, 0))[:, :, :-1]            # down one row: no future pixels
        return x + self.output(forward + backward)

    # -- incremental sampling: the forward stream cell by cell, the reverse stream per row -----
    def start(self, like):
        zeros = like.new_zeros(like.shape[0], self.left_to_right.hidden, like.shape[3])
        return {"above": zeros, "h": zeros.clone(), "c": zeros.clone(), "backward": zeros}

    def step(self, state, row, i, j, condition):
        zero = torch.zeros_like(state["h"][:, :, 0])
        left, c_left = (state["h"][:, :, j - 1], state["c"][:, :, j - 1]) if j else (zero, zero)
        here = None if condition is None else pixel(condition, i, j)
        h, c = self.left_to_right.cell(pixel(row, 0, j), here, state["above"][:, :, j], left, c_left)
        state["h"][:, :, j], state["c"][:, :, j] = h, c
        backward = state["backward"][:, :, j]                          # row i-1's, shifted down
        return pixel(row, 0, j) + self.output((h + backward)[..., None, None])

    def end_row(self, state, row, i, condition):
        """Row i is complete: run the reverse stream over it, right to left."""
        right = c_right = torch.zeros_like(state["h"][:, :, 0])
        backward = torch.zeros_like(state["h"])
        for j in range(row.shape[3] - 1, -1, -1):
            here = None if condition is None else pixel(condition, i, j)
            right, c_right = self.right_to_left.cell(pixel(row, 0, j), here, state["backward"][:, :, j],
                                                     right, c_right)
            backward[:, :, j] = right
        state["backward"], state["above"] = backward, state["h"]
        state["h"], state["c"] = torch.zeros_like(state["h"]), torch.zeros_like(state["c"])


class PixelRNN(AutoregressiveModel):
    """The shared skeleton; a subclass names its ``Layer``. With ``condition_channels`` it is
    conditioned on an image of half the resolution (the multi-scale model's second stage)."""

    Layer = None

    def __init__(self, image_shape, levels=256, *, hidden=16, layers=2, output_hidden=32, condition_channels=0):
        """The shared skeleton of the Row LSTM and the Diagonal BiLSTM (Table 1 of the paper).

        Args:
            image_shape: (C, H, W) of the images.
            levels: values per sub-pixel (256 for 8-bit images).
            hidden: h; the residual stream has 2h maps, each LSTM gate h.
            layers: recurrent layers, each with a residual connection.
            output_hidden: maps of the head's first 1x1 layer.
            condition_channels: maps of a conditioning map added to every input-to-state term (0: none; the multi-
                scale model's fine stage).
        """
        super().__init__(image_shape, levels)
        C = self.image_shape[0]
        self.hidden = hidden
        self.likelihood = Categorical(self.levels)
        self.input_conv = MaskedConv2d(C, 2 * hidden, 7, "A", C)
        self.recurrent = nn.ModuleList(self.Layer(hidden, C, condition_channels) for _ in range(layers))
        self.output = OutputHead(2 * hidden, output_hidden, self.likelihood.param_channels(C), C)
        self.upsample = nn.Sequential(                                 # coarse image -> conditioning map
            nn.ConvTranspose2d(C, condition_channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(condition_channels, condition_channels, 3, padding=1),
        ) if condition_channels else None

    def condition_map(self, condition):
        """The coarse image, int [B, C, ceil(H/2), ceil(W/2)] -> [B, condition_channels, H, W]."""
        if (condition is None) != (self.upsample is None):
            raise InputError(f"{self.name}: {'a' if self.upsample is not None else 'no'} condition image is expected")
        if condition is None:
            return None
        H, W = self.image_shape[1:]
        return self.upsample(self.unit_input(condition))[..., :H, :W]

    def network(self, h, y=None, condition=None):
        features = self.condition_map(condition)
        h = self.input_conv(h)                                         # [B, 2h, H, W]
        for layer in self.recurrent:
            h = layer(h, features)
        return self.output(h)                                          # [B, C*levels, H, W]

    def cached_sampler(self, x, y=None, condition=None):
        return CachedSampler(self, x, y, condition)


class CachedSampler(Sampler):
    """Pixel by pixel: each layer keeps its recurrent state and its input on the current row;
    when a row is complete, each layer closes it (``end_row``)."""

    def __init__(self, model, x, y=None, condition=None):
        super().__init__(model, x, y, condition)
        self.features = model.condition_map(condition)
        like = model.unit_input(x[:, :, :1])                           # the model's dtype and device
        self.rows = [like.new_zeros(x.shape[0], 2 * model.hidden, 1, x.shape[3]) for _ in model.recurrent]
        self.states = [layer.start(row) for layer, row in zip(model.recurrent, self.rows)]
        self.row = 0

    def step(self, x, i, j, c):
        model = self.model
        if i != self.row:                                              # the previous row is complete
            for layer, state, row in zip(model.recurrent, self.states, self.rows):
                layer.end_row(state, row, self.row, self.features)
            self.row = i
        h = model.input_conv.at(model.unit_input(x), i, j)[..., None, None]   # [B, 2h, 1, 1]
        for layer, state, row in zip(model.recurrent, self.states, self.rows):
            row[:, :, :, j: j + 1] = h
            h = layer.step(state, row, i, j, self.features)
        return model.output(h)[:, :, 0, 0]


@register("row_lstm")
class RowLSTM(PixelRNN):
    Layer = RowLSTMLayer

    def context(self, channel, row, col):
        """A triangle: the state at (r, c) reads the row above at c-1..c+1 and, through the 1x3
        mask-B input-to-state term, the layer's input at (r, c-1) and (r, c)."""
        H, W = self.image_shape[1:]
        reach = torch.zeros(H, W, dtype=torch.bool)
        reach[row, col] = True
        for _ in self.recurrent:
            states = reach.clone()
            for r in range(H - 1, 0, -1):                              # state (r, c) <- states (r-1, c-1..c+1)
                states[r - 1] |= F.max_pool1d(states[r][None].float(), 3, 1, 1)[0].bool()
            reach = states | F.pad(states, (0, 1))[:, 1:]             # inputs at (r, c) and (r, c-1)
        return spatial_context(self, reach, channel, row, col, first=(7, 7))


@register("diagonal_bilstm")
class DiagonalBiLSTM(PixelRNN):
    Layer = DiagonalBiLSTMLayer

    def context(self, channel, row, col):
        """One layer already reads every earlier position: the forward stream the quadrant above
        and to the left (this row included), the shifted reverse stream every row above. But the
        7x7 mask-A input layer puts a pixel's information only at positions after it, so the last
        pixel of the previous row reaches this row only at columns >= W-4. The first W-4 pixels
        of each row therefore miss it, at any depth. The paper's "entire available context" holds
        everywhere else."""
        H, W = self.image_shape[1:]
        reach = torch.zeros(H, W, dtype=torch.bool)
        reach[:row] = True
        reach[row, : col + 1] = True
        return spatial_context(self, reach, channel, row, col, first=(7, 7))


@register("multiscale_pixelrnn")
class MultiScalePixelRNN(StagedModel):
    """log_prob(x) = log p(s(x)) + log p(x | s(x)), where s(x) = ``halve(x)`` is the coarse image.

    Because s is a deterministic function of x, this is log p(x, s(x)) under the two-stage model,
    a lower bound on log p(x) = log sum_s p(s) p(x | s). Its bits/dim is therefore an upper bound,
    the same kind of bound as the auxiliary-variable PixelCNNs report (``staged``)."""

    def __init__(self, image_shape, levels=256, *, hidden=16, layers=2, output_hidden=32, condition_channels=16):
        """A Diagonal BiLSTM on the half-size image, then one at full size conditioned on it.

        Args:
            image_shape: (C, H, W) of the images.
            levels: values per sub-pixel (256 for 8-bit images).
            hidden, layers, output_hidden: both stages' Diagonal BiLSTM knobs.
            condition_channels: maps of the upsampled coarse image that condition the fine stage.
        """
        super().__init__(image_shape, levels)
        C, H, W = self.image_shape
        size = dict(hidden=hidden, layers=layers, output_hidden=output_hidden)
        self.coarse = DiagonalBiLSTM((C, (H + 1) // 2, (W + 1) // 2), levels, **size)
        self.fine = DiagonalBiLSTM(self.image_shape, levels, condition_channels=condition_channels, **size)
        self.likelihood = self.fine.likelihood

    def stage_names(self):
        return ["coarse", "fine"]

    def stage_models(self):
        return [self.coarse, self.fine]

    def auxiliaries(self, x):
        return [halve(x), x]
