"""Models that factorise an image through deterministic auxiliary images.

A staged model writes X as a chain X_1 = s_1(X), ..., X_K = X of images, each a function of the
next (a coarser or greyer version), and models

    log p(X_1) + log p(X_2 | X_1) + ... + log p(X | X_{K-1}) = log p(X, s(X)) <= log p(X),

so ``log_prob`` is a lower bound on log p(X) and its bits/dim an upper bound, labelled "≤"
everywhere. ``log_prob_parts`` gives one term per stage. Each stage is an ordinary
autoregressive model of its own image, conditioned on the stage before; the contract tests run
on every stage (``stages``). The Multi-Scale PixelRNN and the auxiliary-variable PixelCNNs are
staged models.
"""

import torch
import torch.nn.functional as F

from ..errors import InputError
from .base import AutoregressiveModel


def halve(x):
    """2x average pooling, rounded; odd sizes repeat their last row or column first, so the
    result is a function of x for every size."""
    H, W = x.shape[-2:]
    padded = F.pad(x.double(), (0, W % 2, 0, H % 2), mode="replicate")
    return torch.round(F.avg_pool2d(padded, 2)).long()


class StagedModel(AutoregressiveModel):
    """A chain of stages: stage k models image k, conditioned on image k-1 (the first on nothing)."""

    exact = False

    def stage_names(self) -> list:
        raise NotImplementedError

    def stage_models(self) -> list:
        raise NotImplementedError

    def auxiliaries(self, x) -> list:
        """The images the stages model, from the first (coarsest) to x itself."""
        raise NotImplementedError

    def stages(self, condition_from):
        """Each stage with a fixed conditioning image drawn by ``condition_from(shape, levels)``,
        for the per-stage contract tests."""
        models, parts = self.stage_models(), []
        for k, model in enumerate(models):
            if isinstance(model, StagedModel):            # a staged first stage: its own stages
                parts += model.stages(condition_from)
            else:
                parts.append((model, None if k == 0 else condition_from(models[k - 1].image_shape,
                                                                        models[k - 1].levels)))
        return parts

    def log_prob_parts(self, x) -> dict:
        """{stage name: log p(image k | image k-1)} in nats, each float [B]."""
        self.check_input(x)
        images, parts = self.auxiliaries(x), {}
        for k, (name, model, image) in enumerate(zip(self.stage_names(), self.stage_models(), images)):
            if isinstance(model, StagedModel):            # a staged first stage: one term per stage
                parts.update({f"{name} {sub}": value for sub, value in model.log_prob_parts(image).items()})
            else:
                parts[name] = model.log_prob(image, condition=None if k == 0 else images[k - 1])
        return parts

    def log_prob(self, x, y=None, per_pixel=False, condition=None):
        """log p(X, s(X)), a lower bound on log p(X); ``per_pixel``: the last stage's map."""
        self.check_input(x, y)
        if per_pixel:
            return self.stage_models()[-1].log_prob(x, per_pixel=True, condition=self.auxiliaries(x)[-2])
        return sum(self.log_prob_parts(x).values())

    def sub_pixel_log_prob(self, x, y=None, condition=None):
        """The last stage's sub-pixel conditionals, given the image before it."""
        self.check_input(x, y)
        return self.stage_models()[-1].sub_pixel_log_prob(x, condition=self.auxiliaries(x)[-2])

    @torch.no_grad()
    def sample(self, n, y=None, generator=None, cache=True, temperature=1.0, progress=False, condition=None,
               prefix=None, **likelihood_options):
        """Stage by stage. ``condition`` is a given second-to-last image (a grey sketch to
        colourise, a small image to upscale): only the last stage runs. ``likelihood_options``
        (``map_mode``) apply to the stages after the first."""
        if prefix is not None:
            raise InputError(f"{self.name} draws its stages whole and takes no prefix; give a condition instead")
        models = self.stage_models()
        start = len(models) - 1 if condition is not None else 0
        image = condition
        for k in range(start, len(models)):
            image = models[k].sample(n, generator=generator, cache=cache, temperature=temperature,
                                     progress=progress, condition=image, **(likelihood_options if k else {}))
        return image
