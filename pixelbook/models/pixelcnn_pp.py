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
   long skip connections (the paper's "short-cut connections") from every layer of the up pass to
   its mirror in the down pass (the U-net of the reference model.py). The receptive field covers
   the whole past cheaply. ``shortcuts=False`` removes the long skips at the same depth and
   resolutions (the paper's ablation); ``downsamples=0`` is a single-resolution network, which
   also has fewer blocks.
4. **Gated ResNet blocks** with concat_elu, and dropout between their two convolutions.
5. **Weight normalisation** on every layer (one scale per output filter, transposed convolutions
   included), and **EMA (Polyak) weights** for evaluation and sampling (the training loop's ``ema``).
6. **Optional class conditioning**: a learned class term in every block.

**Conditioning on an image** (used by the auxiliary-variable models of Kolesnikov & Lampert
2017): with ``condition_in`` > 0 an embedding f_w (:class:`ConditionEmbedding`: one unshifted
flow of gated blocks, ``embedding_blocks`` deep, resampled after the blocks in
``embedding_down``/``embedding_up``) reads the whole conditioning image (``condition_in``
channels, ``condition_levels`` levels, ``condition_scale`` times smaller than the image) and
maps it to ``condition_channels`` features at the image's size, average-pooled to every
resolution of the U-net. Every gated block adds a 1x1 projection of them. It sees all of the
conditioning image, which is given, and none of the image being modelled, so the model stays
autoregressive in the image. The sampler computes f_w once per image, not once per pixel.

A ones-channel is appended to the input, so the network can tell padding from black pixels.

Left out: the data-dependent initialisation of weight normalisation; Adamax (we use the
library's Adam loop). ``likelihood="softmax"`` swaps in a per-channel 256-way softmax for the
ablation in the chapter. Given the past, its channels are independent, because this network
never sees the current pixel.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers import (DownRightShiftedConv2d, DownRightShiftedDeconv2d, DownShiftedConv2d, DownShiftedDeconv2d,
                      GatedResNet, down_shift, in_float32, right_shift, weight_normed)
from ..errors import InputError
from .fast_pixelcnn_pp import FastSampler
from ..likelihoods import Categorical, DiscretizedLogisticMixture, scale_to_unit
from . import register
from .base import AutoregressiveModel, sub_pixel_context


class IndependentCategorical(Categorical):
    """The softmax ablation: every channel of a pixel from one pass, no R -> G -> B coupling."""

    channels_per_pass = None

    def sample(self, params, x_pixel, channel, noise, temperature=1.0):
        for c in range(x_pixel.shape[1]):
            x_pixel = super().sample(params, x_pixel, c, noise, temperature)
        return x_pixel


@dataclass(frozen=True, eq=False)
class Step:
    """One layer of the U-net. ``stream``: "u" (the rows above) or "ul" (above and to the left);
    ``kind``: "input", "block", "down" (stride 2) or "up" (transposed); ``level``: the resolution
    of its output (k: 2^k times smaller than the image); ``input``: the step whose output it
    reads; ``skips``: the steps whose outputs a block takes, concatenated, as its skip input."""
    stream: str
    kind: str
    layer: object
    level: int
    input: int | None = None
    skips: tuple = ()


@register("pixelcnn_pp")
class PixelCNNpp(AutoregressiveModel):
    def __init__(self, image_shape, levels=256, *, filters=16, resnets=2, mixtures=10, downsamples=2, dropout=0.0,
                 likelihood="mixture", num_classes=None, shortcuts=True, condition_in=0, condition_channels=16,
                 condition_levels=None, condition_scale=1, embedding_blocks=2, embedding_down=(), embedding_up=()):
        """PixelCNN++: two streams of shifted convolutions in a U-net of gated ResNet blocks, a discretized logistic
        mixture.

        Args:
            image_shape: (C, H, W) of the images.
            levels: values per sub-pixel (256 for 8-bit images).
            filters: maps of every layer (the reference: 160).
            resnets: gated blocks per resolution and pass (the reference: 5).
            mixtures: logistic components per pixel (the reference: 10).
            downsamples: stride-2 steps of the U-net (0: one resolution).
            dropout: dropout rate inside the blocks (the reference: 0.5).
            likelihood: "mixture" (the paper's) or "softmax" (the ablation: 256 values per sub-pixel).
            num_classes: with a number, a class embedding conditions every block.
            shortcuts: the up-pass maps feed the down pass (False: the paper's ablation, same depth).
            condition_in: channels of a conditioning image (0: none), embedded by f_w (the auxiliary models).
            condition_channels: maps of f_w's embedding.
            condition_levels: values per sub-pixel of the conditioning image (default: ``levels``).
            condition_scale: the image's size over the conditioning image's (2 for a pyramid level).
            embedding_blocks: gated blocks of f_w.
            embedding_down: the f_w blocks after which it halves the resolution.
            embedding_up: the f_w blocks after which it doubles it.
        """
        super().__init__(image_shape, levels, num_classes)
        C, H, W = self.image_shape
        e = condition_channels if condition_in else 0
        self.likelihood = (DiscretizedLogisticMixture(self.levels, mixtures) if likelihood == "mixture"
                           else IndependentCategorical(self.levels))
        if likelihood not in ("mixture", "softmax"):
            raise InputError(f"likelihood must be 'mixture' or 'softmax', got {likelihood!r}")
        self.downsamples, self.shortcuts = downsamples, bool(shortcuts)
        f = filters
        skip = f if shortcuts else 0                                   # the up pass's maps, when kept
        u_block = lambda skip=0: GatedResNet(f, DownShiftedConv2d, skip, dropout, num_classes, e)
        ul_block = lambda skip: GatedResNet(f, DownRightShiftedConv2d, skip, dropout, num_classes, e)
        if condition_in:
            self.condition_shape = (condition_in, -(-H // condition_scale), -(-W // condition_scale))
            self.condition_levels = int(condition_levels or levels)
            self.embed = ConditionEmbedding(condition_in, e, embedding_blocks, embedding_down, embedding_up,
                                            condition_scale, dropout)

        self.u_in = DownShiftedConv2d(C + 1, f, (2, 3))
        self.ul_in_above = DownShiftedConv2d(C + 1, f, (1, 3))
        self.ul_in_left = DownRightShiftedConv2d(C + 1, f, (2, 1))
        levels_ = range(downsamples + 1)
        # Up pass: resnets at each resolution, a stride-2 convolution between resolutions.
        self.up_u = nn.ModuleList(nn.ModuleList(u_block() for _ in range(resnets)) for _ in levels_)
        self.up_ul = nn.ModuleList(nn.ModuleList(ul_block(f) for _ in range(resnets)) for _ in levels_)
        self.down_u = nn.ModuleList(DownShiftedConv2d(f, f, (2, 3), stride=2) for _ in range(downsamples))
        self.down_ul = nn.ModuleList(DownRightShiftedConv2d(f, f, (2, 2), stride=2) for _ in range(downsamples))
        # Down pass: the mirror, each block taking the up pass's output as a skip connection (the
        # shortcuts; ``shortcuts=False`` drops them, the paper's ablation at the same depth and
        # resolutions); after an upsampling, one extra block takes the stride-2 layer's output.
        self.dn_u = nn.ModuleList(nn.ModuleList(u_block(skip) for _ in range(resnets + (k < downsamples)))
                                  for k in levels_)
        self.dn_ul = nn.ModuleList(nn.ModuleList(ul_block(f + skip) for _ in range(resnets + (k < downsamples)))
                                   for k in levels_)
        self.up_sample_u = nn.ModuleList(DownShiftedDeconv2d(f, f) for _ in range(downsamples))
        self.up_sample_ul = nn.ModuleList(DownRightShiftedDeconv2d(f, f) for _ in range(downsamples))
        self.output = weight_normed(nn.Conv2d(f, self.likelihood.param_channels(C), 1))

    def forward(self, x, y=None, condition=None):
        self.check_condition(condition, x.shape[0])
        return self.network(self.unit_input(x), y, condition)

    def check_condition(self, condition, batch):
        """One clear line for a missing, misshapen or out-of-range conditioning image."""
        wanted = getattr(self, "condition_shape", None)
        if wanted is None or isinstance(condition, list):     # unconditional, or maps already embedded
            if condition is not None and wanted is None:
                raise InputError(f"{self.name} was built without condition_in, so it takes no conditioning image")
            return
        if not isinstance(condition, torch.Tensor) or condition.is_floating_point():
            raise InputError(f"{self.name} needs a conditioning image: int64 [B, {', '.join(map(str, wanted))}]")
        if tuple(condition.shape) != (batch, *wanted):
            raise InputError(f"conditioning image must have shape [{batch}, {', '.join(map(str, wanted))}], "
                             f"got {list(condition.shape)}")
        if self.reads_values(condition) and (condition.min() < 0 or condition.max() >= self.condition_levels):
            raise InputError(f"conditioning pixels must be in [0, {self.condition_levels}); found "
                             f"{int(condition.min())}..{int(condition.max())}")

    def condition_maps(self, condition):
        """f_w of the conditioning image at every resolution of the U-net (once per image)."""
        if condition is None or isinstance(condition, list):
            return condition
        h = self.embed(scale_to_unit(condition, self.condition_levels, next(self.parameters()).dtype),
                       self.image_shape[1:])
        maps = [h]
        for _ in range(self.downsamples):
            maps.append(F.avg_pool2d(maps[-1], 2, ceil_mode=True))
        return maps

    def unet(self):
        """The network as a list of :class:`Step` in the order it runs: the two stream inputs,
        the up pass (blocks at each resolution, a stride-2 layer between them), then the down
        pass (a transposed convolution back up, then blocks taking the up pass's maps as skips).
        ``network``, ``wiring`` and the Fast PixelCNN++ sampler all walk this one list."""
        steps = [Step("u", "input", self.u_in, 0), Step("ul", "input", (self.ul_in_above, self.ul_in_left), 0)]

        def add(stream, kind, layer, level, input, skips=()):
            steps.append(Step(stream, kind, layer, level, input, tuple(skips)))
            return len(steps) - 1

        u, ul = 0, 1
        us, uls = [u], [ul]
        for k in range(self.downsamples + 1):                          # the up pass, remembering everything
            for u_res, ul_res in zip(self.up_u[k], self.up_ul[k]):
                u = add("u", "block", u_res, k, u)
                ul = add("ul", "block", ul_res, k, ul, [u])
                us.append(u)
                uls.append(ul)
            if k < self.downsamples:
                u, ul = add("u", "down", self.down_u[k], k + 1, u), add("ul", "down", self.down_ul[k], k + 1, ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for k in reversed(range(self.downsamples + 1)):                # the down pass, consuming them
            if k < self.downsamples:
                u, ul = add("u", "up", self.up_sample_u[k], k, u), add("ul", "up", self.up_sample_ul[k], k, ul)
            for u_res, ul_res in zip(self.dn_u[k], self.dn_ul[k]):
                u_skip, ul_skip = us.pop(), uls.pop()                  # popped either way: they pair the levels
                u = add("u", "block", u_res, k, u, [u_skip] if self.shortcuts else [])
                ul = add("ul", "block", ul_res, k, ul, [u, ul_skip] if self.shortcuts else [u])
        return steps                                                   # the last is the output's input

    def level_sizes(self, size):
        """(H, W) of every resolution: each stride-2 layer gives ceil(H/2) x ceil(W/2)."""
        sizes = [tuple(size)]
        for _ in range(self.downsamples):
            sizes.append(tuple(-(-s // 2) for s in sizes[-1]))
        return sizes

    def network(self, x, y=None, condition=None):
        """The two streams through the U-net: [B, C, H, W] in [-1, 1] -> [B, M*(1+3C), H, W]."""
        maps = self.condition_maps(condition) or [None] * (self.downsamples + 1)
        x = torch.cat([x, torch.ones_like(x[:, :1])], 1)              # the ones-channel marks the image
        sizes, out = self.level_sizes(x.shape[2:]), []
        for step in self.unet():
            if step.kind == "input" and step.stream == "u":
                out.append(down_shift(self.u_in(x)))                   # rows above
            elif step.kind == "input":                                 # above, and left
                out.append(down_shift(self.ul_in_above(x)) + right_shift(self.ul_in_left(x)))
            elif step.kind == "block":
                skip = torch.cat([out[s] for s in step.skips], 1) if step.skips else None
                out.append(step.layer(out[step.input], skip, y=y, h=maps[step.level]))
            elif step.kind == "down":
                out.append(step.layer(out[step.input]))
            else:
                out.append(step.layer(out[step.input], sizes[step.level]))
        return in_float32(self.output, F.elu(out[-1]))                 # the head in float32 under autocast

    def wiring(self, pixels):
        """The same walk on 0/1 maps [N, 1, H, W] of input pixels, every layer applying its
        geometry only (``layers``: padding, stride, crop, all-ones kernels): which input pixels
        reach which output, from the wiring alone."""
        sizes, out = self.level_sizes(pixels.shape[2:]), []
        for step in self.unet():
            if step.kind == "input" and step.stream == "u":
                out.append(down_shift(self.u_in.wiring(pixels)))
            elif step.kind == "input":
                out.append(down_shift(self.ul_in_above.wiring(pixels)) + right_shift(self.ul_in_left.wiring(pixels)))
            elif step.kind == "block":
                out.append(step.layer.wiring(out[step.input], sum(out[s] for s in step.skips) if step.skips else None))
            elif step.kind == "down":
                out.append(step.layer.wiring(out[step.input]))
            else:
                out.append(step.layer.wiring(out[step.input], sizes[step.level]))
        return out[-1]

    def context(self, channel, row, col):
        """From the wiring: one 0/1 image per input pixel through the streams' geometry. The
        strided layers make it uneven: on odd rows the long-range paths through the coarse
        resolutions land one row later, so with few full-resolution blocks the last pixels of
        an odd row can miss the first ones of that row, and the first pixel misses the end of the
        row above. The tests check this claim against the real network."""
        H, W = self.image_shape[1:]
        if getattr(self, "_reach", None) is None:                      # every output's inputs, in one pass
            pixels = torch.eye(H * W).view(H * W, 1, H, W)
            with torch.no_grad():
                self._reach = self.wiring(pixels)[:, 0] > 0       # [input pixel, H, W]
        return sub_pixel_context(self, self._reach[:, row, col].view(H, W), channel, row, col)

    def cached_sampler(self, x, y=None, condition=None):
        """Fast PixelCNN++ (``fast_sampling``): every layer runs once per new output, from caches."""
        return FastSampler(self, x, y, condition)


def plain_conv(in_channels, out_channels):
    """A weight-normed 'same' 3x3 convolution: f_w's layer, unshifted (it may see every pixel)."""
    return weight_normed(nn.Conv2d(in_channels, out_channels, 3, padding=1))


class ConditionEmbedding(nn.Module):
    """f_w (Kolesnikov & Lampert 2017, section 3.3): "almost identical to the architecture of
    PixelCNN++", with one flow of gated residual blocks instead of two streams, and no shifts,
    since the conditioning image is given whole. A 3x3 convolution reads the image (plus a
    ones-channel), then ``blocks`` gated ResNet blocks of 3x3 convolutions follow; a stride-2
    convolution comes after each block numbered in ``down`` and a transposed convolution after each
    one in ``up`` (0: before the first block). An upsampling back to a resolution seen before is
    cropped to it. A conditioning image ``scale`` times smaller than the image needs
    log2(scale) more upsamplings than downsamplings; the result is cropped to the image's size.
    The Pyramid paper's f_w: 15 blocks, down after block 3, up after blocks 9 and 12."""

    def __init__(self, in_channels, channels, blocks=2, down=(), up=(), scale=1, dropout=0.0):
        super().__init__()
        down, up = tuple(int(k) for k in down), tuple(int(k) for k in up)
        if scale < 1 or scale & (scale - 1):
            raise InputError(f"condition_scale must be a power of two, got {scale}")
        if len(up) - len(down) != scale.bit_length() - 1:
            raise InputError(f"an embedding of an image {scale}x smaller needs {scale.bit_length() - 1} more "
                             f"upsamplings than downsamplings; got embedding_down={list(down)}, "
                             f"embedding_up={list(up)}")
        if any(not 0 <= k <= blocks for k in down + up):
            raise InputError(f"embedding_down and embedding_up name blocks 0..{blocks}; got {list(down)}, {list(up)}")
        self.down_after, self.up_after = down, up
        self.first = weight_normed(nn.Conv2d(in_channels + 1, channels, 3, padding=1))
        self.blocks = nn.ModuleList(GatedResNet(channels, plain_conv, 0, dropout) for _ in range(blocks))
        self.down = nn.ModuleList(weight_normed(nn.Conv2d(channels, channels, 3, stride=2, padding=1))
                                  for _ in down)
        self.up = nn.ModuleList(weight_normed(nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1,
                                                                 output_padding=1)) for _ in up)

    def forward(self, h, size):
        h = self.first(torch.cat([h, torch.ones_like(h[:, :1])], 1))
        sizes, downs, ups = [], iter(self.down), iter(self.up)
        for k in range(len(self.blocks) + 1):
            if k:
                h = self.blocks[k - 1](h)
            for _ in range(self.down_after.count(k)):
                sizes.append(h.shape[2:])
                h = next(downs)(h)
            for _ in range(self.up_after.count(k)):
                h = next(ups)(h)                                       # exactly 2x
                if sizes:
                    back = sizes.pop()
                    h = h[:, :, : back[0], : back[1]]
        return h[:, :, : size[0], : size[1]]
