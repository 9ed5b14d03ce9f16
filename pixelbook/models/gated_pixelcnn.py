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

from ..layers import MaskedConv2d, OutputHead, channel_groups, grow
from ..likelihoods import Categorical
from ..sampling import Frozen, FrozenHead, Sampler, cache_map
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



class FrozenGatedLayer:
    """One gated layer frozen for a sampling run: the vertical convolution whole, the horizontal
    one up to its centre tap (its mask zeroes the rest), and the class terms of this batch."""

    def __init__(self, layer, kernel, y):
        self.first, self.half = layer.first, kernel // 2
        self.vertical, self.to_horizontal = Frozen.of(layer.vertical), Frozen.of(layer.vertical_to_horizontal)
        self.horizontal = Frozen.of(layer.horizontal, cols=kernel // 2 + 1)
        self.out = Frozen.of(layer.horizontal_out)
        self.v_class, self.h_class = layer.class_terms(y, 3)            # [B, 2p, 1] each, or 0


class CachedSampler(Sampler):
    """The vertical stack once per row (it reads only rows above), the horizontal stack once per
    pixel, from per-layer maps filled as sampling goes (Ramachandran et al. 2017). At the start
    of a row each layer's vertical output, and its 1x1 path into the horizontal stack (class term
    included), are computed for the whole row; a pixel then costs one short window per layer."""

    def __init__(self, model, x, y=None, condition=None):
        super().__init__(model, x, y, condition)
        B, C, H, W = x.shape
        like, pad = next(model.parameters()), max(model.kernels) // 2
        self.pad, self.height, self.width = pad, H, W
        self.layers = [FrozenGatedLayer(layer, size, y) for layer, size in zip(model.layers, model.kernels)]
        widths = [C] + [layer.horizontal_out.out_channels for layer in model.layers[1:]]
        self.v_maps = [cache_map(B, w, H + pad, W + 2 * pad, like) for w in widths]   # each layer's vertical input
        self.h_maps = [cache_map(B, w, H, W + pad, like) for w in widths]             # and horizontal input
        self.from_vertical = [None] * len(self.layers)                 # this row's vertical -> horizontal term
        self.head = FrozenHead(model.output)
        self.row = None

    def step(self, x, i, j, c):
        if before := self.settled(i, j):
            self.put(x, *before)
        self.put(x, i, j)                                              # this one's earlier colours
        if self.row != i:
            self.start_row(i)
        h = None
        for k, layer in enumerate(self.layers):
            h_map = self.h_maps[k]
            h_pre = layer.horizontal.at(h_map, i, j + self.pad - layer.half) + self.from_vertical[k][:, :, j]
            h_out = layer.out.vector(gate(h_pre))
            h = h_out if layer.first else h_map[:, :, i, j + self.pad] + h_out
            if k + 1 < len(self.layers):
                self.h_maps[k + 1][:, :, i, j + self.pad] = h
        return self.head(h)

    def start_row(self, i):
        """Row i of every layer's vertical stack, and its term in the horizontal stack."""
        self.row, pad, W = i, self.pad, self.width
        for k, layer in enumerate(self.layers):
            v_in = self.v_maps[k][:, :, :, pad - layer.half: pad + W + layer.half]
            v_pre = layer.vertical.row(v_in, i + pad - layer.half)       # [B, 2p, W], rows above only
            if k + 1 < len(self.layers):
                self.v_maps[k + 1][:, :, i + pad, pad: pad + W] = gate(v_pre + layer.v_class)
            to_h = layer.to_horizontal
            self.from_vertical[k] = (to_h.matrix @ v_pre + to_h.bias[:, None] + layer.h_class)

    def put(self, x, i, j):
        """Pixel (i, j) into the first layer's inputs: as it is (horizontal), one row down (vertical)."""
        unit = self.model.unit_input(x[:, :, i, j])
        self.h_maps[0][:, :, i, j + self.pad] = unit
        if i + 1 < self.height:
            self.v_maps[0][:, :, i + 1 + self.pad, j + self.pad] = unit


@register("gated_pixelcnn")
class GatedPixelCNN(AutoregressiveModel):
    def __init__(self, image_shape, levels=256, *, channels=32, layers=5, first_kernel=7, kernel=3,
                 output_hidden=64, num_classes=None):
        """Gated PixelCNN: a vertical and a horizontal stack of gated layers, no blind spot.

        Args:
            image_shape: (C, H, W) of the images.
            levels: values per sub-pixel (256 for 8-bit images).
            channels: p; each stack carries p maps, and a gate 2p.
            layers: gated layers (the first reads the image with a mask-A horizontal kernel).
            first_kernel: the first layer's kernel size (odd).
            kernel: every later layer's kernel size (odd).
            output_hidden: maps of the head's first 1x1 layer.
            num_classes: with a number, a class embedding is added to every gate (``log_prob(x, y)``).
        """
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
        return CachedSampler(self, x, y, condition)

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
