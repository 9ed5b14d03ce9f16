"""An ImageGPT-style transformer (Chen et al. 2020, "Generative Pretraining from Pixels").

The language-model recipe applied to pixels: the image is read in raster order as a sequence of
tokens, and a decoder-only transformer predicts each token from the ones before it.

- Tokens. With ``palette=None`` every sub-pixel is a token (R, G, B of a pixel in turn), so the
  vocabulary is ``levels`` and ``log_prob`` is the exact log-likelihood of the image, in the same
  units as every other chapter. With ``palette=K`` each pixel becomes the index of its nearest
  colour among K k-means centres (iGPT's 512-colour palette), one token per pixel; the
  likelihood is then that of the palette image, p(tokens), not of the pixels, and the model says
  so (``bound = "palette"``).
- The network: a start token, token plus learned position embeddings, ``layers`` pre-LayerNorm
  blocks (causal self-attention through ``F.scaled_dot_product_attention``, then a 4x MLP with
  GELU), a final LayerNorm and a linear head.
- Sampling feeds one token per step and keeps every layer's keys and values (the KV cache), so a
  step costs one token's work instead of a whole sequence's.

Left out: iGPT's sizes (iGPT-S has 24 layers of width 512 over 32x32 palette images), its BERT
objective, and its dropout; the profiles set our sizes.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InputError
from ..layers import in_float32
from ..likelihoods import Categorical, inverse_cdf, tempered
from ..sampling import Sampler
from . import register
from .base import AutoregressiveModel


class LayerCache:
    """One layer's keys and values of the tokens fed so far, in buffers of the full length."""

    def __init__(self, batch, heads, length, head_dim, like):
        self.keys = like.new_zeros(batch, heads, length, head_dim)
        self.values = like.new_zeros(batch, heads, length, head_dim)
        self.size = 0

    def extend(self, keys, values):
        """Append [B, heads, T, d] -> every key and value so far, [B, heads, size, d]."""
        start, self.size = self.size, self.size + keys.shape[2]
        self.keys[:, :, start: self.size] = keys
        self.values[:, :, start: self.size] = values
        return self.keys[:, :, : self.size], self.values[:, :, : self.size]


class CausalSelfAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, h, cache=None):
        """h [B, T, D] -> [B, T, D]. With a cache, h holds the T newest tokens and attends to
        every token fed before them as well."""
        B, T, D = h.shape
        q, k, v = self.qkv(h).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # [B, heads, T, d]
        past = 0
        if cache is not None:
            past = cache.size
            k, v = cache.extend(k, v)                                  # [B, heads, past + T, d]
        if past == 0:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif T == 1:                                                   # the newest token sees all
            out = F.scaled_dot_product_attention(q, k, v)
        else:                                                          # query t sees keys <= past + t
            mask = torch.ones(T, past + T, dtype=torch.bool, device=h.device).tril(past)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    """Pre-LayerNorm: h + attention(LN(h)), then h + MLP(LN(h))."""

    def __init__(self, width, heads):
        super().__init__()
        self.ln_attention = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.ln_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, h, cache=None):
        h = h + self.attention(self.ln_attention(h), cache)
        return h + self.mlp(self.ln_mlp(h))


class PaletteCategorical:
    """A K-way softmax over palette colours, one token per pixel (all its channels at once).

    ``sub_pixel_log_prob`` puts log p(token | earlier tokens) in channel 0 and zeros in the
    others, so the per-pixel maps and ``log_prob`` sum as for every family."""

    channels_per_pass = None

    def __init__(self, model):
        self.model = model

    def param_channels(self, channels):
        return self.model.vocabulary

    def sub_pixel_log_prob(self, params, x):
        tokens = self.model.palette_tokens(x)                          # [B, H, W]
        log_p = params.to(torch.promote_types(params.dtype, torch.float32))
        log_p = log_p.log_softmax(1).gather(1, tokens.unsqueeze(1))   # [B, 1, H, W]
        return torch.cat([log_p, log_p.new_zeros(x.shape[0], x.shape[1] - 1, *x.shape[2:])], 1)

    def noise_channels(self, channels):
        return 1

    def sample(self, params, x_pixel, channel, noise, temperature=1.0, top_k=None):
        token = inverse_cdf(tempered(params, temperature, top_k), noise[:, 0])      # [B]
        return self.model.palette[token].to(x_pixel.dtype)                # [B, C]


def fit_palette(images, colours, seed=0, pixels=200_000, levels=256) -> torch.Tensor:
    """k-means (scikit-learn MiniBatchKMeans) over up to ``pixels`` training pixels -> int64
    [colours, C]. Each centre is then moved to the nearest colour that occurs in the data and no
    other centre took, so the palette holds ``colours`` distinct, real colours."""
    from sklearn.cluster import MiniBatchKMeans

    N, C, H, W = images.shape
    generator = torch.Generator().manual_seed(seed)
    if N * H * W > pixels:                                             # draw pixel indices, then gather only those
        index = torch.randint(0, N * H * W, (pixels,), generator=generator)
        place = index % (H * W)
        flat = images[index // (H * W), :, place // W, place % W]     # [pixels, C]
    else:
        flat = images.permute(0, 2, 3, 1).reshape(-1, C)
    observed = torch.unique(flat, dim=0)                               # [U, C]
    if len(observed) < colours:
        raise InputError(f"the training images hold {len(observed)} distinct colours; a palette of "
                         f"{colours} needs at least that many")
    kmeans = MiniBatchKMeans(n_clusters=colours, random_state=seed, n_init=3, batch_size=4096)
    kmeans.fit(flat.numpy().astype(np.float64))
    centres = torch.from_numpy(kmeans.cluster_centers_)
    distance = torch.cdist(centres, observed.double())                 # [K, U]
    taken = torch.zeros(len(observed), dtype=torch.bool)
    palette = torch.empty(colours, C, dtype=torch.long)
    for k in distance.min(1).values.argsort():                         # closest centres choose first
        choice = distance[k].masked_fill(taken, float("inf")).argmin()
        taken[choice] = True
        palette[k] = observed[choice]
    return palette


@register("igpt")
class ImageGPT(AutoregressiveModel):
    def __init__(self, image_shape, levels=256, *, width=32, layers=2, heads=2, palette=None):
        """A decoder-only transformer over the raster sequence of sub-pixels (or palette colours).

        Args:
            image_shape: (C, H, W) of the images.
            levels: values per sub-pixel (256 for 8-bit images).
            width: the model width d.
            layers: transformer blocks.
            heads: attention heads (width must be a multiple).
            palette: None: every sub-pixel is a token; K: a k-means palette of K colours, one token per pixel.
        """
        super().__init__(image_shape, levels)
        C, H, W = self.image_shape
        if width % heads:
            raise InputError(f"width {width} must be a multiple of heads {heads}")
        if palette is None:
            self.likelihood, self.vocabulary, self.tokens_per_pixel = Categorical(self.levels), self.levels, C
        else:
            if not 2 <= palette <= self.levels ** C:
                raise InputError(f"palette must be between 2 and levels^C = {self.levels ** C} colours, got {palette}")
            self.likelihood, self.vocabulary, self.tokens_per_pixel = PaletteCategorical(self), palette, 1
            # Until fit_palette: ``palette`` distinct colours spread over the colour cube.
            spread = torch.linspace(0, self.levels ** C - 1, palette).round().long()
            digits = torch.stack([spread // self.levels ** (C - 1 - c) % self.levels for c in range(C)], 1)
            self.register_buffer("palette", digits)                    # [K, C]
        self.length = H * W * self.tokens_per_pixel
        self.heads = heads
        self.token_embedding = nn.Embedding(self.vocabulary + 1, width)     # the last one: the start token
        self.position_embedding = nn.Parameter(0.02 * torch.randn(self.length, width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_final = nn.LayerNorm(width)
        self.head = nn.Linear(width, self.vocabulary, bias=False)

        self.exact = palette is None                                   # else p(palette image), not p(x)

    @property
    def bound(self):
        return "exact" if self.exact else "palette"

    def context(self, channel, row, col):
        """Sub-pixel tokens: every earlier sub-pixel. Palette tokens: every channel of every
        earlier pixel; the pixel's own channels make the token being predicted."""
        seen = super().context(channel, row, col)
        if not self.exact:
            seen[:, row, col] = False
        return seen

    # -- tokens ------------------------------------------------------------------------------
    def prepare(self, images, seed=0):
        """Fit the palette to training images (int64 [N, C, H, W]); a no-op without one."""
        if not self.exact:
            self.palette.copy_(fit_palette(images, self.vocabulary, seed))

    def palette_tokens(self, x):
        """int64 pixels [B, C, H, W] -> the index of each pixel's nearest palette colour [B, H, W]."""
        centres = self.palette.to(torch.float32).expand(len(x), -1, -1)     # [B, K, C]
        pixels = x.permute(0, 2, 3, 1).flatten(1, 2).to(torch.float32)      # [B, H*W, C]
        distance = torch.cdist(pixels, centres, compute_mode="donot_use_mm_for_euclid_dist")
        return distance.argmin(-1).view(x.shape[0], *x.shape[2:])

    def sequence(self, x, start=0, stop=None):
        """Tokens ``start:stop`` of the raster sequence of x, int64 [B, stop - start]."""
        T = self.tokens_per_pixel
        stop = self.length if stop is None else stop
        if stop <= start:
            return torch.zeros(x.shape[0], 0, dtype=torch.long, device=x.device)
        first, last = start // T, -(-stop // T)                        # the pixels that hold them
        pixels = x.flatten(2)[:, :, first:last]                        # [B, C, n]
        if not self.exact:
            tokens = self.palette_tokens(pixels.unsqueeze(2)).flatten(1)    # [B, n]
        else:
            tokens = pixels.transpose(1, 2).flatten(1)                 # [B, n*C]: R, G, B of each pixel
        return tokens[:, start - first * T: stop - first * T]

    def inputs(self, x, start=0, stop=None):
        """The transformer's inputs at positions ``start:stop``: the start token, then the
        sequence shifted right by one."""
        stop = self.length if stop is None else stop
        tokens = self.sequence(x, max(start - 1, 0), stop - 1)
        if start == 0 and stop > 0:
            begin = torch.full((x.shape[0], 1), self.vocabulary, dtype=torch.long, device=x.device)
            tokens = torch.cat([begin, tokens], 1)
        return tokens

    # -- the network -------------------------------------------------------------------------
    def embed(self, inputs, start=0):
        """Input tokens at positions ``start:start+T`` [B, T] -> token plus position embeddings [B, T, D]."""
        return self.token_embedding(inputs) + self.position_embedding[start: start + inputs.shape[1]]

    def transformer(self, inputs, start=0, caches=None):
        """Input tokens at positions ``start:start+T`` [B, T] -> hidden states [B, T, D]."""
        h = self.embed(inputs, start)
        for k, block in enumerate(self.blocks):
            h = block(h, caches[k] if caches is not None else None)
        return h

    def forward(self, x, y=None, condition=None):
        C, H, W = self.image_shape
        logits = in_float32(self.head, self.ln_final(self.transformer(self.inputs(x))))   # [B, L, V], float32 under autocast
        logits = logits.view(x.shape[0], H, W, self.tokens_per_pixel * self.vocabulary)
        return logits.permute(0, 3, 1, 2)                              # [B, T*V, H, W], channel-major

    def features(self, x):
        """Each block's output, layer-normalised (without the affine part, which a standardised
        probe ignores anyway) and average-pooled over the sequence: [B, layers, D], the linear
        probe's input as in iGPT."""
        self.check_input(x)
        h, pooled = self.embed(self.inputs(x)), []
        for block in self.blocks:
            h = block(h)
            pooled.append(F.layer_norm(h, h.shape[-1:]).mean(1))
        return torch.stack(pooled, 1)

    def cached_sampler(self, x, y=None, condition=None):
        return CachedSampler(self, x, y, condition)


class CachedSampler(Sampler):
    """Feeds the tokens not yet fed, then predicts the one asked for: with the KV cache, one
    token's work per step. Sub-pixel c of pixel (i, j) is token (i*W + j)*T + c (palette tokens:
    T = 1, c None)."""

    def __init__(self, model, x, y=None, condition=None):
        super().__init__(model, x, y, condition)
        B, T = x.shape[0], model.tokens_per_pixel
        like = model.position_embedding                               # dtype, device and width
        self.caches = [LayerCache(B, model.heads, model.length, like.shape[1] // model.heads, like)
                       for _ in model.blocks]
        self.params = like.new_zeros(B, T, model.vocabulary)           # this pixel's tokens so far
        self.fed = 0                                                   # tokens in the caches

    def step(self, x, i, j, c):
        model, token = self.model, 0 if c is None else c
        target = (i * model.image_shape[2] + j) * model.tokens_per_pixel + token   # the position to predict
        h = model.transformer(model.inputs(x, self.fed, target + 1), self.fed, self.caches)   # [B, new, D]
        self.fed = target + 1
        self.params[:, token] = model.head(model.ln_final(h[:, -1]))
        return self.params.flatten(1).clone()                          # [B, T*V]; slot ``token`` is new
