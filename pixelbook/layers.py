"""The layer vocabulary shared by the convolutional families.

Masks follow van den Oord et al. 2016 (PixelRNN, section 3.4). A pixel sees the rows above and
the pixels to its left. Its colour channels are ordered R -> G -> B: feature maps are split into C
contiguous groups, and at the centre tap group g may read input groups < g (mask "A", first
layer) or <= g (mask "B", every later layer). With C = 1 there is one group, so the same layer
serves greyscale and colour.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def autocast_on(device_type: str) -> bool:
    """Is autocast on for this device type here? (False for devices autocast does not know.)"""
    try:
        return torch.is_autocast_enabled(device_type)
    except (RuntimeError, TypeError):                                  # 'meta'; torch < 2.4 takes no argument
        return False


def in_float32(fn, *inputs):
    """``fn(*inputs)`` in float32 with autocast off, where autocast is on (else as it is): the
    output head and the likelihood. In bf16 a discretized logistic's means would sit about
    0.004-0.008 apart, comparable to the bin width 2/255, and its log-probabilities lose digits."""
    device_type = inputs[0].device.type
    if not autocast_on(device_type):
        return fn(*inputs)
    with torch.autocast(device_type, enabled=False):
        return fn(*(t.float() if torch.is_tensor(t) and t.is_floating_point() else t for t in inputs))


def channel_groups(channels: int, groups: int) -> torch.Tensor:
    """Group index of each of ``channels`` feature maps: contiguous blocks, R first."""
    return torch.arange(channels) * groups // channels


def causal_mask(out_channels, in_channels, kernel_size, mask_type, groups=1, out_groups=None,
                in_groups=None) -> torch.Tensor:
    """[out, in, kh, kw] mask: rows above the centre, the centre row left of the centre, and the
    centre tap itself only between allowed channel groups. ``out_groups``/``in_groups`` give each
    map's group explicitly (e.g. gate-major LSTM gates); by default they are contiguous blocks."""
    kh, kw = kernel_size
    mask = torch.zeros(out_channels, in_channels, kh, kw)
    mask[:, :, : kh // 2] = 1                                          # rows above
    mask[:, :, kh // 2, : kw // 2] = 1                                 # left, same row
    out_group = (channel_groups(out_channels, groups) if out_groups is None else out_groups)[:, None]
    in_group = (channel_groups(in_channels, groups) if in_groups is None else in_groups)[None, :]
    centre = out_group > in_group if mask_type == "A" else out_group >= in_group
    mask[:, :, kh // 2, kw // 2] = centre.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution whose kernel is multiplied by a causal mask ("A" or "B")."""

    def __init__(self, in_channels, out_channels, kernel_size, mask_type="B", groups=1, out_groups=None,
                 in_groups=None):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__(in_channels, out_channels, kernel_size,
                         padding=(kernel_size[0] // 2, kernel_size[1] // 2))
        self.mask_type, self.color_groups = mask_type, groups
        mask = causal_mask(out_channels, in_channels, kernel_size, mask_type, groups, out_groups, in_groups)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)

    def at(self, x, i, j):
        """The output at one position (i, j) only, [B, out]: the zero-padded window around it,
        convolved once. Incremental samplers call this instead of the whole map."""
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        H, W = x.shape[-2:]
        window = x.new_zeros(*x.shape[:2], kh, kw)
        top, left, bottom, right = max(0, i - ph), max(0, j - pw), min(H, i + ph + 1), min(W, j + pw + 1)
        window[..., top - i + ph: bottom - i + ph, left - j + pw: right - j + pw] = x[..., top:bottom, left:right]
        return F.conv2d(window, self.weight * self.mask, self.bias)[:, :, 0, 0]

    def extra_repr(self):
        return super().extra_repr() + f", mask_type={self.mask_type}, color_groups={self.color_groups}"


class OutputHead(nn.Sequential):
    """ReLU, 1x1 mask B, ReLU, 1x1 mask B: features -> distribution parameters, per colour group.
    The two convolutions are ``first`` and ``second`` (what a cached sampler freezes)."""

    def __init__(self, in_channels, hidden, out_channels, groups=1):
        super().__init__(nn.ReLU(), MaskedConv2d(in_channels, hidden, 1, "B", groups),
                         nn.ReLU(), MaskedConv2d(hidden, out_channels, 1, "B", groups))

    @property
    def first(self) -> "MaskedConv2d":
        return self[1]

    @property
    def second(self) -> "MaskedConv2d":
        return self[3]

    def forward(self, h):
        return in_float32(super().forward, h)                          # float32 under autocast


def skew(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, H, W+H-1], row i shifted right by i: diagonals become columns
    (PixelRNN, Figure 3). Padding each row by H and re-reading the buffer with rows one shorter
    shifts row i by exactly i."""
    B, C, H, W = x.shape
    return F.pad(x, (0, H)).flatten(2)[..., : H * (W + H - 1)].view(B, C, H, W + H - 1)


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of :func:`skew`: [B, C, H, W+H-1] -> [B, C, H, width]."""
    B, C, H, _ = x.shape
    return F.pad(x.flatten(2), (0, H)).view(B, C, H, width + H)[..., :width]


def grow(reach: torch.Tensor, taps) -> torch.Tensor:
    """Bool [H, W] -> every pixel p + (dr, dc) for p in ``reach`` and (dr, dc) in ``taps``: one
    layer's reads, followed back from its outputs to its inputs."""
    grown = torch.zeros_like(reach)
    H, W = reach.shape
    for dr, dc in taps:
        if abs(dr) >= H or abs(dc) >= W:                               # a tap beyond the whole image
            continue
        src = reach[max(0, -dr): H - max(0, dr), max(0, -dc): W - max(0, dc)]
        grown[max(0, dr): H - max(0, -dr), max(0, dc): W - max(0, -dc)] |= src
    return grown


def dilate(reach: torch.Tensor, kernel_size, mask_type: str) -> torch.Tensor:
    """Grow a set of pixels by one masked kernel's spatial taps (the centre too for mask B).
    Channel groups are ignored here: the spatial blind spot is a property of the taps alone."""
    kh, kw = kernel_size
    taps = causal_mask(1, 1, kernel_size, "B")[0, 0].bool()
    if mask_type == "A":
        taps[kh // 2, kw // 2] = False
    return grow(reach, [(r - kh // 2, c - kw // 2) for r, c in taps.nonzero().tolist()])


# -- PixelCNN++ (Salimans et al. 2017): shifts instead of masks --------------------------------
# Each layer also has ``wiring(d)``: the same geometry (padding, stride, crop) applied with an
# all-ones kernel to 0/1 maps, so a model can compute from its wiring alone which input pixels
# reach which output (its context claim, checked against the real model by the tests).

def reached(t):
    return (t > 0).to(t.dtype)


def down_shift(x):
    """Move every row down by one (zeros on top): a pixel then sees only the rows above it."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x):
    """Move every column right by one (zeros on the left)."""
    return F.pad(x, (1, 0))[..., :-1]


def concat_elu(x):
    """ELU of x and of -x, concatenated on channels: the PixelCNN++ nonlinearity."""
    return F.elu(torch.cat([x, -x], 1))


def weight_normed(module):
    """Weight normalisation (Salimans & Kingma 2016), as PixelCNN++ uses on every layer: one
    scale per output filter. A transposed convolution stores its weight as [in, out, kh, kw], so
    its scale runs over dim 1, as the reference ``deconv2d`` normalises it."""
    dim = 1 if isinstance(module, nn.ConvTranspose2d) else 0
    return nn.utils.parametrizations.weight_norm(module, dim=dim)


class DownShiftedConv2d(nn.Module):
    """Output (i, j) reads rows i-kh+1 .. i and columns j-kw//2 .. j+kw//2: the row itself and
    those above, centred horizontally (padding at the top and both sides)."""

    def __init__(self, in_channels, out_channels, kernel=(2, 3), stride=1):
        super().__init__()
        self.pad = (kernel[1] // 2, kernel[1] // 2, kernel[0] - 1, 0)
        self.kernel, self.stride = kernel, stride
        self.conv = weight_normed(nn.Conv2d(in_channels, out_channels, kernel, stride))

    def forward(self, x):
        return self.conv(F.pad(x, self.pad))

    def wiring(self, d):
        return reached(F.conv2d(F.pad(d, self.pad), d.new_ones(1, 1, *self.kernel), stride=self.stride))


class DownRightShiftedConv2d(DownShiftedConv2d):
    """Output (i, j) reads rows i-kh+1 .. i and columns j-kw+1 .. j: up and to the left."""

    def __init__(self, in_channels, out_channels, kernel=(2, 2), stride=1):
        super().__init__(in_channels, out_channels, kernel, stride)
        self.pad = (kernel[1] - 1, 0, kernel[0] - 1, 0)


class DownShiftedDeconv2d(nn.Module):
    """Stride-2 upsampling that keeps the stream causal: the transposed convolution's extra
    bottom row and side columns are cropped, and the result is cut to ``size``."""

    def __init__(self, in_channels, out_channels, kernel=(2, 3)):
        super().__init__()
        self.kernel = kernel
        self.deconv = weight_normed(nn.ConvTranspose2d(in_channels, out_channels, kernel, 2, output_padding=1))

    def forward(self, x, size):
        return self.crop(self.deconv(x), size)                         # [B, C, 2H + kh - 1, 2W + kw - 1] -> size

    def crop(self, y, size):
        kh, kw = self.kernel
        y = y[:, :, : y.shape[2] - kh + 1, kw // 2: y.shape[3] - kw // 2]
        return y[:, :, : size[0], : size[1]]

    def wiring(self, d, size):
        ones = d.new_ones(1, 1, *self.kernel)
        return reached(self.crop(F.conv_transpose2d(d, ones, stride=2, output_padding=1), size))


class DownRightShiftedDeconv2d(DownShiftedDeconv2d):
    def __init__(self, in_channels, out_channels, kernel=(2, 2)):
        super().__init__(in_channels, out_channels, kernel)

    def crop(self, y, size):
        kh, kw = self.kernel
        return y[:, :, : y.shape[2] - kh + 1, : y.shape[3] - kw + 1][:, :, : size[0], : size[1]]


class GatedResNet(nn.Module):
    """x + a * sigmoid(b), where (a, b) = conv(concat_elu(conv(concat_elu(x)) + nin(concat_elu(skip))))
    (PixelCNN++'s gated_resnet); dropout between the two convolutions; optional conditioning: a
    class term, and a 1x1 projection of a conditioning map ``h`` (the auxiliary models' f_w)."""

    def __init__(self, channels, conv, skip_channels=0, dropout=0.0, num_classes=None, condition_channels=0):
        super().__init__()
        self.conv_in = conv(2 * channels, channels)
        self.skip = weight_normed(nn.Conv2d(2 * skip_channels, channels, 1)) if skip_channels else None
        self.dropout = nn.Dropout(dropout)
        self.conv_out = conv(2 * channels, 2 * channels)
        self.embedding = nn.Embedding(num_classes, 2 * channels) if num_classes else None
        self.condition = nn.Conv2d(condition_channels, 2 * channels, 1, bias=False) if condition_channels else None

    def forward(self, x, skip=None, y=None, h=None):
        c = self.conv_in(concat_elu(x))
        if skip is not None:
            c = c + self.skip(concat_elu(skip))
        c = self.conv_out(self.dropout(concat_elu(c)))
        if self.embedding is not None and y is not None:
            c = c + self.embedding(y)[..., None, None]
        if self.condition is not None:
            c = c + self.condition(h)
        a, b = c.chunk(2, 1)
        return x + a * torch.sigmoid(b)

    def wiring(self, x, skip=None):
        c = self.conv_in.wiring(x)
        return reached(x + self.conv_out.wiring(c if skip is None else c + skip))
