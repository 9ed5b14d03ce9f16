"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks").

The network of the paper's Table 1 / Figure 5:
a 7x7 mask-A convolution, then ``layers`` residual blocks
(ReLU, 1x1 conv 2h->h, ReLU, 3x3 mask-B conv, ReLU, 1x1 conv h->2h, plus the input), then two
mask-B 1x1 layers and a ``levels``-way softmax per sub-pixel, with R->G->B channel masking.

Its receptive field grows as a cone over the rows above and misses a wedge above-right: the
blind spot. :meth:`PixelCNN.context` computes that set from the kernels, and the contract tests
check it by perturbation.

Left out: the paper trains at h=128 with 15 blocks on CIFAR-10; the defaults here are small so
that tests run in seconds, and the profiles set the real sizes.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers import MaskedConv2d, OutputHead, dilate
from ..likelihoods import Categorical
from ..sampling import Frozen, FrozenHead, Sampler, cache_map
from . import register
from .base import AutoregressiveModel, spatial_context


class ResidualBlock(nn.Module):
    """Figure 5 of the PixelRNN paper: a bottleneck around one 3x3 mask-B convolution."""

    def __init__(self, hidden, groups):
        super().__init__()
        self.body = nn.Sequential(                                     # the names below: reduce, conv3x3, expand
            nn.ReLU(), MaskedConv2d(2 * hidden, hidden, 1, "B", groups),
            nn.ReLU(), MaskedConv2d(hidden, hidden, 3, "B", groups),
            nn.ReLU(), MaskedConv2d(hidden, 2 * hidden, 1, "B", groups),
        )

    # The block's three convolutions by name (the cached sampler freezes them); ``body`` keeps
    # its positions so that committed weights load unchanged.
    @property
    def reduce(self) -> MaskedConv2d:
        return self.body[1]

    @property
    def conv3x3(self) -> MaskedConv2d:
        return self.body[3]

    @property
    def expand(self) -> MaskedConv2d:
        return self.body[5]

    def forward(self, h):
        return h + self.body(h)


class CachedSampler(Sampler):
    """A layer's output at (i, j) depends only on earlier positions, so once computed it never
    changes (Ramachandran et al. 2017). Each block keeps the input of its 3x3 convolution as a
    map filled one position per step; a new pixel then costs one window per masked layer, not
    the whole network. Windows stop at the centre row (the mask zeroes the rows below)."""

    def __init__(self, model, x, y=None, condition=None):
        super().__init__(model, x, y, condition)
        B, C, H, W = x.shape
        like, (kh, kw) = next(model.parameters()), model.input_conv.kernel_size
        self.pad = kh // 2
        self.image = cache_map(B, C, H + self.pad, W + 2 * self.pad, like)   # the unit image, padded
        self.input = Frozen.of(model.input_conv, rows=kh // 2 + 1)
        self.blocks = [(Frozen.of(block.reduce), Frozen.of(block.conv3x3, rows=2), Frozen.of(block.expand))
                       for block in model.blocks]
        self.maps = [cache_map(B, block.conv3x3.in_channels, H + 1, W + 2, like) for block in model.blocks]
        self.head = FrozenHead(model.output)

    def step(self, x, i, j, c):
        if before := self.settled(i, j):
            self.put(x, *before)
        self.put(x, i, j)                                              # this one's earlier colours
        h = self.input.at(self.image, i, j)                            # [B, 2h], the 7x7 mask-A window
        for (reduce, conv3x3, expand), map_ in zip(self.blocks, self.maps):
            map_[:, :, i + 1, j + 1] = F.relu(reduce.vector(F.relu(h)))
            h = h + expand.vector(F.relu(conv3x3.at(map_, i, j)))
        return self.head(h)                                            # [B, C*levels]

    def put(self, x, i, j):
        self.image[:, :, i + self.pad, j + self.pad] = self.model.unit_input(x[:, :, i, j])


@register("pixelcnn")
class PixelCNN(AutoregressiveModel):
    def __init__(self, image_shape, levels=256, *, hidden=32, layers=5, output_hidden=64):
        """The PixelRNN paper's PixelCNN: a 7x7 mask-A convolution, residual blocks, a 1x1 head, a softmax.

        Args:
            image_shape: (C, H, W) of the images.
            levels: values per sub-pixel (256 for 8-bit images).
            hidden: h; the residual stream has 2h maps, each block's bottleneck h (the paper's Figure 5).
            layers: residual blocks, each a 3x3 mask-B convolution between two 1x1 ones.
            output_hidden: maps of the head's first 1x1 layer.
        """
        super().__init__(image_shape, levels)
        C = self.image_shape[0]
        self.layers = layers
        self.likelihood = Categorical(self.levels)
        self.input_conv = MaskedConv2d(C, 2 * hidden, 7, "A", C)
        self.blocks = nn.Sequential(*[ResidualBlock(hidden, C) for _ in range(layers)])
        self.output = OutputHead(2 * hidden, output_hidden, self.likelihood.param_channels(C), C)

    def network(self, h, y=None, condition=None):
        h = self.input_conv(h)                                         # [B, 2h, H, W]
        return self.output(self.blocks(h))                             # [B, C*levels, H, W]

    def cached_sampler(self, x, y=None, condition=None):
        return CachedSampler(self, x, y, condition)

    def context(self, channel, row, col):
        H, W = self.image_shape[1:]
        reach = torch.zeros(H, W, dtype=torch.bool)
        reach[row, col] = True
        for _ in range(self.layers):
            reach = dilate(reach, (3, 3), "B")
        return spatial_context(self, reach, channel, row, col, first=(7, 7))
