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
        if self.embedding is not None and y is not None:
            v_class, h_class = self.embedding(y)[..., None, None].chunk(2, 1)
            v_pre, h_pre = v_pre + v_class, h_pre + h_class
        h_out = self.horizontal_out(gate(h_pre))
        return gate(v_pre), (h_out if self.first else h + h_out)


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
        # Row-incremental: every layer's row i reads only rows <= i.
        return lambda x, i, j: self(x[:, :, : i + 1], y)[:, :, i, j]

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
