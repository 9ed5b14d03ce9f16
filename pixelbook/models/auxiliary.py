"""Auxiliary-variable PixelCNNs (Kolesnikov & Lampert 2017): Grayscale and Pyramid.

Both factorise an image X through a deterministic auxiliary image X^ = psi(X):

    log p(X, psi(X)) = log p(X^) + log p(X | X^)  <=  log p(X) = log sum_{X^} p(X^) p(X | X^),

so ``log_prob`` is a lower bound on log p(X), and its bits/dim an upper bound, labelled "≤"
everywhere. ``log_prob_parts`` gives the factors. Their per-factor bits/dim reproduce the
paper's decompositions (Table 1 for Grayscale, Table 2 for Pyramid).

- **Grayscale PixelCNN**: X^ is the 4-bit greyscale of X. A PixelCNN with a 16-way softmax models
  p(X^). A PixelCNN++ models p(X | X^), with every residual block biased by an embedding f_w(X^)
  from an unshifted (non-causal) convolutional network that sees the whole sketch.
- **Pyramid PixelCNN**: X^ is X average-pooled 2x, recursively down to a base resolution. A small
  PixelCNN++ models the base. Each upscaling level is a light PixelCNN++ (few blocks, no down- or
  upsampling), conditioned on a deep embedding of the level below. The embedding runs once per
  level, not once per pixel.

Sampling draws X^ first, then X; ``condition=`` starts from a given X^ (colourising a grey image,
or upscaling a small one). ``temperature`` < 1 is the paper's variance reduction, and
``map_mode`` takes each logistic's mode (MAP sampling).
"""

import math

import torch

from ..data import grayscale
from . import register
from .pixelcnn import PixelCNN
from .pixelcnn_pp import PixelCNNpp
from .staged import StagedModel, halve


@register("grayscale_pixelcnn")
class GrayscalePixelCNN(StagedModel):
    def __init__(self, image_shape, levels=256, sketch_levels=16, hidden=8, layers=3, output_hidden=16,
                 filters=8, resnets=1, mixtures=3, downsamples=1, embedding=8):
        super().__init__(image_shape, levels)
        C, H, W = self.image_shape
        self.sketch_levels = min(sketch_levels, self.levels)
        self.sketch = PixelCNN((1, H, W), self.sketch_levels, hidden, layers, output_hidden)
        self.detail = PixelCNNpp(self.image_shape, levels, filters, resnets, mixtures, downsamples,
                                 condition_channels=embedding, condition_in=1,
                                 condition_levels=self.sketch_levels)
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
    combination the paper leaves to future work."""

    def __init__(self, image_shape, levels=256, base=4, base_filters=8, base_resnets=1, filters=8, resnets=1,
                 mixtures=3, embedding=8, embedding_layers=2, grey_base=False):
        super().__init__(image_shape, levels)
        shapes = pyramid_shapes(self.image_shape, base)
        downsamples = min(2, int(math.log2(max(shapes[0][1:]))))
        if grey_base:
            self.base = GrayscalePixelCNN(shapes[0], levels, hidden=base_filters, layers=2 + base_resnets,
                                          output_hidden=2 * base_filters, filters=base_filters,
                                          resnets=base_resnets, mixtures=mixtures, downsamples=downsamples,
                                          embedding=embedding)
        else:
            self.base = PixelCNNpp(shapes[0], levels, base_filters, base_resnets, mixtures, downsamples)
        self.upscalers = torch.nn.ModuleList(
            PixelCNNpp(shape, levels, filters, resnets, mixtures, downsamples=0, condition_in=shape[0],
                       condition_channels=embedding, condition_scale=2, embedding_layers=embedding_layers)
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
