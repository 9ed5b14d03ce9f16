"""PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016): Row LSTM, Diagonal BiLSTM, Multi-Scale.

Both LSTM variants share the paper's skeleton (Table 1): a 7x7 mask-A convolution, ``layers``
recurrent layers with residual connections (2h maps in, h per gate, a 1x1 projection back to
2h, plus the input), two mask-B 1x1 layers and a softmax per sub-pixel. Each layer has its own
weights. The gates follow eq. 3: i, f and o are sigmoids and the candidate g is a tanh,
c = f * c_prev + i * g and h = o * tanh(c).

- **Row LSTM** (section 3.1): row by row, every gate of a row at once. The input-to-state term is
  a 1xk mask-B convolution along the row (k = 3: the pixel and its left neighbour). The
  state-to-state term is a 1xk convolution of the previous row's hidden state. The receptive
  field is a triangle over the rows above, so it misses pixels far to the upper right and far to
  the left on the rows just above (:meth:`RowLSTM.context` computes the set).
- **Diagonal BiLSTM** (section 3.2): the input is skewed (row i shifted right by i), so each
  diagonal becomes a column. Each direction runs column by column. Its input-to-state term is a
  1x1 mask-B convolution, and its state-to-state term is a 2x1 convolution over the previous
  column (the pixel above and the pixel to the left, zero-padded at the top). The second
  direction runs on the width-flipped map and is flipped back. It is shifted down one row before
  the two are added, so it brings the upper-right context without seeing the future. One layer
  sees every earlier pixel.

Sampling keeps each layer's recurrent state. A new pixel costs one LSTM cell per layer (and, at
the end of a row, one pass of the reverse stream over that row) instead of a whole forward pass.

Left out: the paper's 12-layer h = 128 CIFAR-10 models are the ``paper`` profile, and the smaller
profiles shrink them. The multi-scale model conditions on a 2x average-pooled image (the paper
subsamples; both are deterministic functions of the image).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers import MaskedConv2d, OutputHead, channel_groups, skew, unskew
from ..likelihoods import Categorical
from . import register
from .base import AutoregressiveModel, spatial_context


def lstm_cell(gates, c):
    """Eq. 3 of the paper; ``gates`` is gate-major, [B, 4h, ...] = (i, f, o, g)."""
    i, f, o, g = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gate_groups(hidden, groups):
    """Colour group of each of the 4h gate maps: gate-major, each gate split like the state."""
    return channel_groups(hidden, groups).repeat(4)


class RowLSTMLayer(nn.Module):
    def __init__(self, hidden, groups, kernel=3, condition_channels=0):
        super().__init__()
        self.hidden, self.kernel = hidden, kernel
        state = channel_groups(hidden, groups)
        self.input_to_state = MaskedConv2d(2 * hidden, 4 * hidden, (1, kernel), "B", groups,
                                           out_groups=gate_groups(hidden, groups))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, kernel, padding=kernel // 2)  # the row above
        self.output = MaskedConv2d(hidden, 2 * hidden, 1, "B", groups, in_groups=state)
        self.condition = nn.Conv2d(condition_channels, 4 * hidden, 1) if condition_channels else None

    def gates_from_input(self, x, condition=None):
        gates = self.input_to_state(x)                                 # [B, 4h, H, W]
        return gates if condition is None else gates + self.condition(condition)

    def forward(self, x, condition=None):
        gates_in = self.gates_from_input(x, condition)
        h = c = x.new_zeros(x.shape[0], self.hidden, x.shape[3])       # [B, h, W]
        rows = []
        for r in range(x.shape[2]):
            h, c = lstm_cell(gates_in[:, :, r] + self.state_to_state(h), c)
            rows.append(h)
        return x + self.output(torch.stack(rows, 2))                   # [B, 2h, H, W]


class DiagonalLSTM(nn.Module):
    """One direction of the Diagonal BiLSTM, on the skewed map."""

    def __init__(self, hidden, groups, condition_channels=0):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(2 * hidden, 4 * hidden, 1, "B", groups,
                                           out_groups=gate_groups(hidden, groups))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)        # rows r-1 and r of the previous column
        self.condition = nn.Conv2d(condition_channels, 4 * hidden, 1) if condition_channels else None

    def gates_from_input(self, x, condition=None):
        gates = self.input_to_state(x)
        return gates if condition is None else gates + self.condition(condition)

    def forward(self, x, condition=None):
        B, _, H, W = x.shape
        gates_in = skew(self.gates_from_input(x, condition))          # [B, 4h, H, W+H-1]
        h = c = x.new_zeros(B, self.hidden, H)                         # one column: [B, h, H]
        columns = []
        for t in range(W + H - 1):
            h, c = lstm_cell(gates_in[..., t] + self.state_to_state(F.pad(h, (1, 0))), c)
            columns.append(h)
        return unskew(torch.stack(columns, 3), W)                      # [B, h, H, W]


class DiagonalBiLSTMLayer(nn.Module):
    def __init__(self, hidden, groups, condition_channels=0):
        super().__init__()
        self.left_to_right = DiagonalLSTM(hidden, groups, condition_channels)
        self.right_to_left = DiagonalLSTM(hidden, groups, condition_channels)
        self.output = MaskedConv2d(hidden, 2 * hidden, 1, "B", groups, in_groups=channel_groups(hidden, groups))

    def forward(self, x, condition=None):
        flip = (lambda t: None if t is None else t.flip(3))
        forward = self.left_to_right(x, condition)
        backward = flip(self.right_to_left(flip(x), flip(condition)))
        backward = F.pad(backward, (0, 0, 1, 0))[:, :, :-1]            # down one row: no future pixels
        return x + self.output(forward + backward)


class PixelRNN(AutoregressiveModel):
    """The shared skeleton; a subclass names its ``Layer``."""

    Layer = None

    def __init__(self, image_shape, levels=256, hidden=16, layers=2, output_hidden=32, condition_channels=0):
        super().__init__(image_shape, levels)
        C = self.image_shape[0]
        self.hidden, self.layers = hidden, layers
        self.likelihood = Categorical(self.levels)
        self.input_conv = MaskedConv2d(C, 2 * hidden, 7, "A", C)
        self.recurrent = nn.ModuleList(self.Layer(hidden, C, condition_channels=condition_channels)
                                       for _ in range(layers))        # each layer its own weights
        self.output = OutputHead(2 * hidden, output_hidden, self.likelihood.param_channels(C), C)

    def network(self, h, y=None, condition=None):
        h = self.input_conv(h)                                         # [B, 2h, H, W]
        for layer in self.recurrent:
            h = layer(h, condition)
        return self.output(h)                                          # [B, C*levels, H, W]


@register("row_lstm")
class RowLSTM(PixelRNN):
    Layer = RowLSTMLayer

    def context(self, channel, row, col):
        """A triangle: the state at (r, c) reads the row above at c-1..c+1 and, through the 1x3
        mask-B input-to-state term, the input at (r, c-1) and (r, c); the 7x7 mask A widens it."""
        C, H, W = self.image_shape
        reach = torch.zeros(H, W, dtype=torch.bool)
        reach[row, col] = True
        for layer in self.recurrent:
            states = reach.clone()
            for r in range(H - 1, 0, -1):                              # state (r, c) <- states (r-1, c-1..c+1)
                states[r - 1] |= F.max_pool1d(states[r][None, None].float(), 3, 1, 1)[0, 0].bool()
            reach = states | F.pad(states, (1, 0))[:, :-1]            # input-to-state: (r, c) and (r, c-1)
        return spatial_context(self, reach, channel, row, col, first=(7, 7))


@register("diagonal_bilstm")
class DiagonalBiLSTM(PixelRNN):
    Layer = DiagonalBiLSTMLayer
