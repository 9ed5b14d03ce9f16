"""Auxiliary-variable PixelCNNs (Kolesnikov & Lampert 2017): Grayscale and Pyramid.

Both factorise an image X through a deterministic auxiliary image X^ = psi(X):

    log p(X, psi(X)) = log p(X^) + log p(X | X^)  <=  log p(X) = log sum_{X^} p(X^) p(X | X^),

so ``log_prob`` is a lower bound on log p(X), and its bits/dim an upper bound, labelled "≤"
everywhere. ``log_prob_parts`` gives the factors: the grey/detail split the paper reports in the
text of its section 4.1, and the per-level bits/dim of its Table 2 (Pyramid).

As in the paper's section 3.3, every factor is a PixelCNN++ network (``pixelcnn_pp``):

- **Grayscale PixelCNN**: X^ is the 4-bit greyscale of X. p(X^) is a PixelCNN++ whose output is
  a 16-way softmax over the grey levels (the paper's one exception to the logistic mixture). Unlike
  the masked PixelCNN it has no wedge-shaped blind spot, and with enough full-resolution blocks
  it sees every earlier grey pixel (the profiles below the paper's are sized so; the tests check
  it). p(X | X^) is a PixelCNN++ whose every residual block is biased by an embedding f_w(X^): one
  flow of gated residual blocks, unshifted, that sees the whole sketch
  (``pixelcnn_pp.ConditionEmbedding``). Its depth (``embedding_blocks``; the paper's CIFAR-10 model
  uses 24) and its down/upsampling positions are knobs, as are the sketch's width, depth and
  resolutions (``sketch_filters``, ``sketch_resnets``, ``sketch_downsamples``; by default the
  detail's).
- **Pyramid PixelCNN**: X^ is X average-pooled 2x, recursively down to a base resolution. Every
  stage, the base included, is a PixelCNN++ without down- or upsampling (the paper: 3 residual
  blocks, ``resnets=3``). Each upscaling stage is conditioned on a deep embedding of the level
  below, which runs once per level, not once per pixel (the paper: 15 blocks, a downsampling after
  block 3, upsamplings after blocks 9 and 12, 100 filters everywhere).

Sampling draws X^ first, then X; ``condition=`` starts from a given X^ (colourising a grey image,
or upscaling a small one). ``temperature`` < 1 is the paper's variance reduction, and
``map_mode`` takes each logistic's mode (MAP sampling).

Departures from the paper, kept because this library trains one model per call: the factors are
trained jointly on the summed objective (the paper trains p(X^) for 30 epochs and p(X | X^) for
200); the paper's sizes are the ``paper`` profile's, the other profiles are smaller.
"""

import math

import torch

from ..data import grayscale
from . import register
from .pixelcnn_pp import PixelCNNpp
from .staged import StagedModel, halve


@register("grayscale_pixelcnn")
class GrayscalePixelCNN(StagedModel):
    """The sketch's own knobs (``sketch_filters``, ``sketch_resnets``, ``sketch_downsamples``; by
    default the detail's) let it see every earlier grey pixel at small depth: PixelCNN++'s strided
    layers leave odd rows a blind spot unless enough blocks run at full resolution (the contract
    tests measure it), so the smaller profiles give the sketch a single resolution and enough
    blocks to reach across the image."""

    def __init__(self, image_shape, levels=256, *, sketch_levels=16, filters=8, resnets=1, mixtures=3, downsamples=1,
                 dropout=0.0, embedding=8, embedding_blocks=2, embedding_down=(), embedding_up=(), sketch_filters=None,
                 sketch_resnets=None, sketch_downsamples=None):
        """A 4-bit grey sketch, then the image given it; every factor a PixelCNN++.

        Args:
            image_shape: (C, H, W) of the images.
            levels: values per sub-pixel (256 for 8-bit images).
            sketch_levels: grey levels of the sketch (the paper: 16).
            filters, resnets, mixtures, downsamples, dropout: the detail model's PixelCNN++ knobs (and the
                sketch's, unless below).
            embedding: maps of f_w, the embedding of the sketch.
            embedding_blocks, embedding_down, embedding_up: f_w's depth and resampling positions.
            sketch_filters, sketch_resnets, sketch_downsamples: the sketch's own PixelCNN++ knobs (None: the
                detail model's).
        """
        super().__init__(image_shape, levels)
        C, H, W = self.image_shape
        self.sketch_levels = min(sketch_levels, self.levels)
        own = lambda value, default: default if value is None else value    # noqa: E731
        self.sketch = PixelCNNpp((1, H, W), self.sketch_levels, filters=own(sketch_filters, filters),
                                 resnets=own(sketch_resnets, resnets), downsamples=own(sketch_downsamples, downsamples),
                                 dropout=dropout, likelihood="softmax")
        self.detail = PixelCNNpp(self.image_shape, levels, filters=filters, resnets=resnets, mixtures=mixtures,
                                 downsamples=downsamples, dropout=dropout, condition_in=1, condition_channels=embedding,
                                 condition_levels=self.sketch_levels,
                                 embedding_blocks=embedding_blocks, embedding_down=embedding_down,
                                 embedding_up=embedding_up)
        self.likelihood = self.detail.likelihood

    def stage_names(self):
        return ["sketch", "detail"]

    def stage_models(self):
        return [self.sketch, self.detail]

    def auxiliaries(self, x):
        return [grayscale(x, self.sketch_levels, from_levels=self.levels), x]


def pyramid_shapes(image_shape, base):
    """Image shapes from the base resolution up to the image, halving (rounding up) each time."""
    C, H, W = image_shape
    shapes = [(C, H, W)]
    while max(shapes[-1][1:]) > base:
        _, h, w = shapes[-1]
        shapes.append((C, math.ceil(h / 2), math.ceil(w / 2)))
    return shapes[::-1]


@register("pyramid_pixelcnn")
class PyramidPixelCNN(StagedModel):
    """``grey_base``: the base level is itself a Grayscale PixelCNN (RGB images only), the
    combination the paper leaves to future work; its stages are single-resolution too, and its
    embedding has no resampling."""

    def __init__(self, image_shape, levels=256, *, base=4, filters=8, resnets=1, mixtures=3, dropout=0.0,
                 embedding=8, embedding_blocks=2, embedding_down=(), embedding_up=(1,), grey_base=False):
        """A base image, then each level of a 2x pyramid given the one below; every level a PixelCNN++ at one
        resolution.

        Args:
            image_shape: (C, H, W) of the images.
            levels: values per sub-pixel (256 for 8-bit images).
            base: the base level's height and width.
            filters, resnets, mixtures, dropout: every level's PixelCNN++ knobs.
            embedding: maps of f_w, each level's embedding of the level below.
            embedding_blocks, embedding_down, embedding_up: f_w's depth and resampling positions.
            grey_base: the base level is a Grayscale PixelCNN (RGB images only).
        """
        super().__init__(image_shape, levels)
        shapes = pyramid_shapes(self.image_shape, base)
        if grey_base:
            self.base = GrayscalePixelCNN(shapes[0], levels, filters=filters, resnets=resnets, mixtures=mixtures,
                                          downsamples=0, dropout=dropout, embedding=embedding,
                                          embedding_blocks=embedding_blocks)
        else:
            self.base = PixelCNNpp(shapes[0], levels, filters=filters, resnets=resnets, mixtures=mixtures, downsamples=0,
                                   dropout=dropout)
        self.upscalers = torch.nn.ModuleList(
            PixelCNNpp(shape, levels, filters=filters, resnets=resnets, mixtures=mixtures, downsamples=0,
                       dropout=dropout,
                       condition_in=shape[0], condition_channels=embedding, condition_scale=2,
                       embedding_blocks=embedding_blocks, embedding_down=embedding_down, embedding_up=embedding_up)
            for shape in shapes[1:])
        self.likelihood = (self.upscalers[-1] if len(self.upscalers) else self.base).likelihood

    def stage_names(self):
        return [f"{s.image_shape[1]}x{s.image_shape[2]}" for s in self.stage_models()]

    def stage_models(self):
        return [self.base, *self.upscalers]

    def auxiliaries(self, x):
        images = [x]
        for _ in self.upscalers:
            images.append(halve(images[-1]))
        return images[::-1]
