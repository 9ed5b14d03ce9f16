"""PixelCNN++ (Salimans, Karpathy, Chen & Kingma 2017).

What the paper changed, each implemented here:

1. **A discretized logistic mixture** (``pixelbook.likelihoods``) replaces the 256-way softmax.
   ``mixtures`` components are shared by a pixel's channels, and G's and B's means are linear in
   the pixel's earlier colours. So one forward pass gives the whole pixel, and the network sees
   no channel of the current pixel.
2. **Two streams of shifted convolutions instead of masks.** ``u`` sees the rows above (a down
   shift, then 2x3 down-shifted convolutions). ``ul`` sees the rows above and the pixels to the
   left (plus 2x2 down-right-shifted convolutions). Together they have no blind spot.
3. **Downsampling** by stride-2 convolutions and **upsampling** by transposed convolutions, with
   long skip connections from every layer of the up pass to its mirror in the down pass (the
   U-net of the reference model.py). The receptive field covers the whole past cheaply.
4. **Gated ResNet blocks** with concat_elu, and dropout between their two convolutions.
5. **Weight normalisation** on every layer, and **EMA (Polyak) weights** for evaluation and
   sampling (the training loop's ``ema``).
6. **Optional class conditioning**: a learned class term in every block.

A ones-channel is appended to the input, so the network can tell padding from black pixels.

Left out: the data-dependent initialisation of weight normalisation; Adamax (we use the
library's Adam loop). ``likelihood="softmax"`` swaps in a per-channel 256-way softmax for the
ablation in the chapter. Given the past, its channels are independent, because this network
never sees the current pixel.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers import (DownRightShiftedConv2d, DownRightShiftedDeconv2d, DownShiftedConv2d, DownShiftedDeconv2d,
                      GatedResNet, down_shift, right_shift, weight_normed)
from ..likelihoods import Categorical, DiscretizedLogisticMixture
from . import register
from .base import AutoregressiveModel, sub_pixel_context


class IndependentCategorical(Categorical):
    """The softmax ablation: every channel of a pixel from one pass, no R -> G -> B coupling."""

    channels_per_pass = None

    def sample(self, params, x_pixel, channel, noise, temperature=1.0):
        for c in range(x_pixel.shape[1]):
            x_pixel = super().sample(params, x_pixel, c, noise, temperature)
        return x_pixel


@register("pixelcnn_pp")
class PixelCNNpp(AutoregressiveModel):
    def __init__(self, image_shape, levels=256, filters=16, resnets=2, mixtures=10, downsamples=2, dropout=0.0,
                 likelihood="mixture", num_classes=None):
        super().__init__(image_shape, levels, num_classes)
        C = self.image_shape[0]
        self.likelihood = (DiscretizedLogisticMixture(self.levels, mixtures) if likelihood == "mixture"
                           else IndependentCategorical(self.levels))
        self.downsamples = downsamples
        f = filters
        u_block = lambda skip=0: GatedResNet(f, DownShiftedConv2d, skip, dropout, num_classes)
        ul_block = lambda skip: GatedResNet(f, DownRightShiftedConv2d, skip, dropout, num_classes)

        self.u_in = DownShiftedConv2d(C + 1, f, (2, 3))
        self.ul_in_above = DownShiftedConv2d(C + 1, f, (1, 3))
        self.ul_in_left = DownRightShiftedConv2d(C + 1, f, (2, 1))
        levels_ = range(downsamples + 1)
        # Up pass: resnets at each resolution, a stride-2 convolution between resolutions.
        self.up_u = nn.ModuleList(nn.ModuleList(u_block() for _ in range(resnets)) for _ in levels_)
        self.up_ul = nn.ModuleList(nn.ModuleList(ul_block(f) for _ in range(resnets)) for _ in levels_)
        self.down_u = nn.ModuleList(DownShiftedConv2d(f, f, (2, 3), stride=2) for _ in range(downsamples))
        self.down_ul = nn.ModuleList(DownRightShiftedConv2d(f, f, (2, 2), stride=2) for _ in range(downsamples))
        # Down pass: the mirror, each block taking the up pass's output as a skip connection;
        # after an upsampling, one extra block takes the stride-2 layer's output.
        self.dn_u = nn.ModuleList(nn.ModuleList(u_block(f) for _ in range(resnets + (k < downsamples))) for k in levels_)
        self.dn_ul = nn.ModuleList(nn.ModuleList(ul_block(2 * f) for _ in range(resnets + (k < downsamples))) for k in levels_)
        self.up_sample_u = nn.ModuleList(DownShiftedDeconv2d(f, f) for _ in range(downsamples))
        self.up_sample_ul = nn.ModuleList(DownRightShiftedDeconv2d(f, f) for _ in range(downsamples))
        self.output = weight_normed(nn.Conv2d(f, self.likelihood.param_channels(C), 1))

    def network(self, x, y=None, condition=None, wiring=False):
        """The two streams through the U-net. With ``wiring``, ``x`` holds 0/1 maps of input
        pixels and every layer applies its geometry only (see ``layers``): the result says which
        input pixels reach which output, from the wiring alone."""
        if wiring:
            run = lambda layer, *a: layer.wiring(*a)                  # noqa: E731
            join, finish = (lambda a, b: a + b), (lambda t: t)
        else:
            run = lambda layer, *a: layer(*a, y=y) if isinstance(layer, GatedResNet) else layer(*a)  # noqa: E731
            join, finish = (lambda a, b: torch.cat([a, b], 1)), (lambda t: self.output(F.elu(t)))
            x = torch.cat([x, torch.ones_like(x[:, :1])], 1)          # the ones-channel marks the image
        u = down_shift(run(self.u_in, x))                              # rows above
        ul = down_shift(run(self.ul_in_above, x)) + right_shift(run(self.ul_in_left, x))   # above, and left
        us, uls = [u], [ul]
        for k in range(self.downsamples + 1):                          # the up pass, remembering everything
            for u_res, ul_res in zip(self.up_u[k], self.up_ul[k]):
                u = run(u_res, u)
                ul = run(ul_res, ul, u)
                us.append(u)
                uls.append(ul)
            if k < self.downsamples:
                u, ul = run(self.down_u[k], u), run(self.down_ul[k], ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for k in reversed(range(self.downsamples + 1)):                # the down pass, consuming them
            if k < self.downsamples:
                size = us[-1].shape[2:]
                u, ul = run(self.up_sample_u[k], u, size), run(self.up_sample_ul[k], ul, size)
            for u_res, ul_res in zip(self.dn_u[k], self.dn_ul[k]):
                u = run(u_res, u, us.pop())
                ul = run(ul_res, ul, join(u, uls.pop()))
        return finish(ul)                                              # [B, M*(1+3C), H, W]

    def context(self, channel, row, col):
        """From the wiring: one 0/1 image per input pixel through the streams' geometry. The
        strided layers make it uneven: on odd rows the long-range paths through the coarse
        resolutions land one row later, so with few full-resolution blocks the last pixels of
        an odd row can miss the first ones of that row, and the first pixel misses the end of the
        row above. The tests check this claim against the real network."""
        H, W = self.image_shape[1:]
        pixels = torch.eye(H * W).view(H * W, 1, H, W)
        with torch.no_grad():
            reach = self.network(pixels, wiring=True)[:, 0, row, col].view(H, W) > 0
        return sub_pixel_context(self, reach, channel, row, col)

    def cached_sampler(self, x, y=None, condition=None):
        # Row-incremental: every layer's output row i reads only input rows <= i, so the rows
        # below are never computed (strided layers included).
        return lambda x, i, j: self(x[:, :, : i + 1], y)[:, :, i, j]
