"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders").

Two stacks remove the PixelCNN's blind spot (the paper's Figure 1):

- The **vertical stack** sees only the rows above. It is built by shifting, not masking: the image
  is shifted down one row at the input, and every convolution then reads only its own row and
  the ones above, through a (k//2 + 1) x k kernel padded at the top.
- The **horizontal stack** sees the pixels to the left on the current row, through a 1 x k
  mask-B convolution. In the first layer this is mask A, which hides the current pixel except for
  its earlier colours (R -> G -> B groups).
- The vertical stack feeds the horizontal through a 1x1 convolution, added before the gate, and
  never the other way round.
- The gate is tanh(a) * sigmoid(b). The horizontal stack has a residual connection (after a 1x1
  convolution) and the vertical stack has none.
- Class conditioning adds a learned embedding of y to both gates in every layer (the paper's
  V^T h term).

Left out: the paper's skip connections to the output and its 20-layer, 384-map ImageNet
configuration, which is the ``paper`` profile's size.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers import MaskedConv2d, OutputHead, channel_groups, grow, pointwise
from ..likelihoods import Categorical
from . import register
from .base import AutoregressiveModel, sub_pixel_context


def gate(x):
    a, b = x.chunk(2, 1)
    return torch.tanh(a) * torch.sigmoid(b)


class VerticalConv(nn.Conv2d):
    """A (k//2 + 1) x k convolution whose output row i reads input rows i - k//2 .. i (padded at
    the top): on an input already shifted down one row, it sees only the rows above."""

    def __init__(self, in_channels, out_channels, kernel):
        super().__init__(in_channels, out_channels, (kernel // 2 + 1, kernel))
        self.pad = (kernel // 2, kernel // 2, kernel // 2, 0)           # left, right, top, bottom

    def forward(self, x):
        return super().forward(F.pad(x, self.pad))

    def row(self, x, i):
        """Output row i only, [B, out, W]: the rows it reads, zero-padded as ``forward`` does."""
        top = max(0, i - self.pad[2])
        window = F.pad(x[:, :, top: i + 1], (self.pad[0], self.pad[1], self.pad[2] - (i - top), 0))
        return super().forward(window)[:, :, 0]


class GatedLayer(nn.Module):
    def __init__(self, in_channels, channels, kernel, groups, first=False, num_classes=None):
        super().__init__()
        gated = channel_groups(channels, groups).repeat(2)             # (tanh, sigmoid) halves, each R, G, B
        self.first = first
        self.vertical = VerticalConv(in_channels, 2 * channels, kernel)
        self.horizontal = MaskedConv2d(in_channels, 2 * channels, (1, kernel), "A" if first else "B", groups,
                                       out_groups=gated)
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = MaskedConv2d(channels, channels, 1, "B", groups)
        self.embedding = nn.Embedding(num_classes, 4 * channels) if num_classes else None

    def forward(self, v, h, y=None):
        v_pre = self.vertical(v)                                       # [B, 2p, H, W], rows above only
        h_pre = self.horizontal(h) + self.vertical_to_horizontal(v_pre)
        v_class, h_class = self.class_terms(y, v_pre.dim())
        h_out = self.horizontal_out(gate(h_pre + h_class))
        return gate(v_pre + v_class), (h_out if self.first else h + h_out)

    def class_terms(self, y, dims):
        """The class embedding's additions to the two gates (zeros without a label)."""
        if self.embedding is None or y is None:
            return 0, 0
        v_class, h_class = self.embedding(y).view(len(y), -1, *[1] * (dims - 2)).chunk(2, 1)
        return v_class, h_class

    # -- incremental sampling -----------------------------------------------------------------
    def vertical_row(self, v, i, y):
        """Row i of the vertical stack, computed once per row: (gated output, pre-activation)."""
        v_pre = self.vertical.row(v, i)                                 # [B, 2p, W]
        return gate(v_pre + self.class_terms(y, 3)[0]), v_pre

    def horizontal_at(self, h, i, j, v_pre, y):
        """The horizontal stack's output at (i, j), [B, p]; ``h`` is its input map so far."""
        h_pre = self.horizontal.at(h, i, j) + pointwise(self.vertical_to_horizontal, v_pre[:, :, j])
        h_out = pointwise(self.horizontal_out, gate(h_pre + self.class_terms(y, 2)[1]))
        return h_out if self.first else h[:, :, i, j] + h_out


@register("gated_pixelcnn")
class GatedPixelCNN(AutoregressiveModel):
    def __init__(self, image_shape, levels=256, channels=32, layers=5, first_kernel=7, kernel=3,
                 output_hidden=64, num_classes=None):
        super().__init__(image_shape, levels, num_classes)
        C = self.image_shape[0]
        self.likelihood = Categorical(self.levels)
        self.kernels = [first_kernel] + [kernel] * (layers - 1)
        self.layers = nn.ModuleList(
            GatedLayer(C if k == 0 else channels, channels, size, C, first=k == 0, num_classes=num_classes)
            for k, size in enumerate(self.kernels))
        self.output = OutputHead(channels, output_hidden, self.likelihood.param_channels(C), C)

    def network(self, x, y=None, condition=None):
        v = F.pad(x, (0, 0, 1, 0))[:, :, :-1]                          # down one row: the vertical stack's input
        h = x
        for layer in self.layers:
            v, h = layer(v, h, y)
        return self.output(h)

    def cached_sampler(self, x, y=None, condition=None):
        """The vertical stack once per row (it reads only rows above), the horizontal stack once
        per pixel, from per-layer maps filled as sampling goes (Ramachandran et al. 2017)."""
        B, C, H, W = x.shape
        like = self.unit_input(x[:, :, :1])
        v_maps = [like.new_zeros(B, C if k == 0 else layer.horizontal_out.out_channels, H, W)
                  for k, layer in enumerate(self.layers)]              # each layer's vertical input
        h_maps = [None] + [like.new_zeros(B, layer.horizontal_out.out_channels, H, W) for layer in self.layers[1:]]
        rows = {}                                                      # this row's vertical pre-activations

        def params_at(x, i, j):
            unit = self.unit_input(x)
            if rows.get("i") != i:                                     # a new row: the vertical stack, once
                if i > 0:
                    v_maps[0][:, :, i] = unit[:, :, i - 1]             # the image shifted down one row
                rows["i"], rows["pre"] = i, []
                for k, layer in enumerate(self.layers):
                    v, v_pre = layer.vertical_row(v_maps[k], i, y)
                    rows["pre"].append(v_pre)
                    if k + 1 < len(self.layers):
                        v_maps[k + 1][:, :, i] = v
            h_map = unit
            for k, layer in enumerate(self.layers):
                h = layer.horizontal_at(h_map, i, j, rows["pre"][k], y)
                if k + 1 < len(self.layers):
                    h_maps[k + 1][:, :, i, j] = h
                    h_map = h_maps[k + 1]
            return pointwise(self.output, h)

        return params_at

    def context(self, channel, row, col):
        """The pixels the two stacks reach, followed back layer by layer: the horizontal input
        through 1 x k taps to the left (and the pixel itself, except in the first layer); the
        vertical input, fed by both stacks, through (k//2 + 1) x k taps on the rows above."""
        H, W = self.image_shape[1:]
        horizontal = torch.zeros(H, W, dtype=torch.bool)
        horizontal[row, col] = True
        vertical = torch.zeros_like(horizontal)
        for k, size in reversed(list(enumerate(self.kernels))):
            vertical = grow(vertical | horizontal, [(dr, dc) for dr in range(-(size // 2), 1)
                                                    for dc in range(-(size // 2), size // 2 + 1)])
            horizontal = grow(horizontal, [(0, dc) for dc in range(-(size // 2), 0 if k == 0 else 1)])
        reach = horizontal | grow(vertical, [(-1, 0)])                 # the vertical input is shifted down
        reach[row, col] = False
        return sub_pixel_context(self, reach, channel, row, col)
