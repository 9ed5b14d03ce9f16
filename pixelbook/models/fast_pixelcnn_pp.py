"""Fast PixelCNN++: per-layer caches (Ramachandran et al. 2017, "Fast Generation for
Convolutional Autoregressive Models"; their code is PrajitR/fast-pixel-cnn).

A layer's output at a position depends only on earlier positions, so once computed it never
changes. The sampler walks the network's own layer list (:meth:`PixelCNNpp.unet`) and runs each
layer only where, and when, a new output of it becomes computable:

- the ``u`` stream (the rows above) once per row: at the start of image row i, each u layer at
  resolution k computes its row i / 2^k, when 2^k divides i;
- the ``ul`` stream (above and to the left) once per pixel: at resolution k when 2^k divides both
  i and j;
- so a stride-2 layer runs on every second row and column of its input, and a transposed
  convolution runs when its coarse input is new, writing the two fine rows (u) or the 2x2 fine
  pixels (ul) that one coarse row or pixel feeds. These are the reference's ``run_every`` and
  ``cache_every``.

Each layer's output lives in a map padded with one zero row on top and a zero column on each
side: the cache its readers' kernels slide over (a 2x3 kernel reads two rows of it, a 2x2 kernel
two rows by two columns). The maps are whole images rather than the reference's ring buffers of
kernel height; at the book's sizes the memory is small and the indexing plain. Weights are
frozen once per run (weight norm applied), so a one-pixel output is one matrix product on its
window. f_w and the class terms are computed once per image and added where the full network
adds them.
"""

import torch
import torch.nn.functional as F

from ..sampling import Frozen, Sampler, cache_map


def signed(weight, bias, reads_signed=False):
    """Weights that give [v, -v] instead of v, so concat_elu(v) is one ``elu`` of the output;
    with ``reads_signed`` the input is a signed map too, and its [-v] half is ignored."""
    if reads_signed:
        weight = torch.cat([weight, torch.zeros_like(weight)], 1)
    return torch.cat([weight, -weight]), None if bias is None else torch.cat([bias, -bias])


class FrozenBlock:
    """A gated ResNet block frozen for one run: both convolutions signed, the skip's 1x1 folded
    into the first, the second giving [a, -a, b, b] (so a * sigmoid(b) comes out signed), and
    its class and f_w terms computed once per image."""

    def __init__(self, block, skip_widths, y, h):
        conv_in = Frozen(*signed(block.conv_in.conv.weight, block.conv_in.conv.bias))
        self.conv_in, self.skip, self.window = conv_in, None, conv_in.matrix.shape[1]
        self.first, self.first_bias = conv_in.matrix, conv_in.bias
        if block.skip is not None:                                     # its inputs in the caches' order:
            total, order, offset = sum(skip_widths), [], 0             # [a, -a, b, -b] not [a, b, -a, -b]
            for width in skip_widths:
                order += list(range(offset, offset + width)) + list(range(total + offset, total + offset + width))
                offset += width
            self.skip = Frozen(*signed(block.skip.weight[:, order], block.skip.bias))
            self.first = torch.cat([self.first, self.skip.matrix], 1)
            self.first_bias = self.first_bias + self.skip.bias
        w, b = block.conv_out.conv.weight, block.conv_out.conv.bias
        (wa, wb), (ba, bb) = w.chunk(2), b.chunk(2)
        self.conv_out = Frozen(torch.cat([wa, -wa, wb, wb]), torch.cat([ba, -ba, bb, bb]))
        extra = None
        if block.embedding is not None and y is not None:
            extra = block.embedding(y)[..., None, None]                # [B, 2F, 1, 1]
        if block.condition is not None:
            extra = block.condition(h) if extra is None else extra + block.condition(h)   # f_w, once per image
        if extra is not None:
            ea, eb = extra.chunk(2, 1)
            extra = torch.cat([ea, -ea, eb, eb], 1)
        self.extra = extra
        self.per_pixel = extra is not None and (extra.shape[2] > 1 or extra.shape[3] > 1)   # f_w, not a class

    def extra_at(self, r, c=None):
        """The class and f_w terms at pixel (r, c), [B, 4F], or along row r, [B, 4F, W]."""
        if c is None:
            return self.extra[:, :, r if self.per_pixel else 0]
        return self.extra[:, :, r, c] if self.per_pixel else self.extra[:, :, 0, 0]


class FastSampler(Sampler):
    def __init__(self, model, x, y=None, condition=None):
        super().__init__(model, x, y, condition)
        model.check_condition(condition, x.shape[0])
        B, C, H, W = x.shape
        like = next(model.parameters())
        self.steps = model.unet()
        self.sizes = model.level_sizes((H, W))
        maps = model.condition_maps(condition) or [None] * len(self.sizes)

        def padded(channels, level):
            rows, cols = self.sizes[level]
            return cache_map(B, channels, rows + 1, cols + 2, like)

        f = model.u_in.conv.out_channels
        self.image = padded(C + 1, 0)                                  # the unit image and its ones-channel
        self.image[:, C, 1:, 1:-1] = 1
        self.u_in = Frozen(*signed(model.u_in.conv.weight, model.u_in.conv.bias))
        self.ul_above = Frozen(*signed(model.ul_in_above.conv.weight, model.ul_in_above.conv.bias))
        self.ul_left = Frozen(*signed(model.ul_in_left.conv.weight, model.ul_in_left.conv.bias))
        self.above = None                                              # this row's ul_in_above term
        readers = {s for step in self.steps if step.kind == "block" for s in (step.input, *step.skips)}
        readers.add(len(self.steps) - 1)                               # the output reads elu(ul)
        self.signed = [padded(2 * f, step.level) for step in self.steps]   # every step's output, [v, -v]
        self.elu = {n: padded(2 * f, step.level) for n in readers for step in [self.steps[n]]}   # concat_elu(v)
        self.frozen = []                                               # per step: its frozen layer(s)
        for step in self.steps:
            if step.kind == "block":
                widths = [f for _ in step.skips]
                self.frozen.append((FrozenBlock(step.layer, widths, y, maps[step.level]), padded(2 * f, step.level)))
            elif step.kind == "down":
                self.frozen.append(Frozen(*signed(step.layer.conv.weight, step.layer.conv.bias, reads_signed=True)))
            elif step.kind == "up":                                    # weight [in, out, kh, kw]
                weight, bias = signed(step.layer.deconv.weight.transpose(0, 1), step.layer.deconv.bias, True)
                self.frozen.append(Frozen(weight, bias))
            else:
                self.frozen.append(None)
        # When each step runs: at resolution k, every 2^k rows (u) or pixels (ul); a transposed
        # convolution runs with its coarse input.
        self.every = [1 << max(step.level, self.steps[step.input].level if step.input is not None else 0)
                      for step in self.steps]
        self.pixel_steps = [(n, step, self.every[n]) for n, step in enumerate(self.steps) if step.stream == "ul"]
        self.row_steps = [(n, step, self.every[n]) for n, step in enumerate(self.steps) if step.stream == "u"]
        output = model.output
        self.output = torch.cat([output.weight.flatten(1), torch.zeros_like(output.weight.flatten(1))], 1).detach()
        self.output_bias = output.bias.detach()

    # -- one step -------------------------------------------------------------------------------
    def step(self, x, i, j, c):
        if before := self.settled(i, j):
            pi, pj = before
            self.image[:, : x.shape[1], pi + 1, pj + 1] = self.model.unit_input(x[:, :, pi, pj])
        if j == 0:
            for n, step, every in self.row_steps:
                if i % every == 0:
                    self.run_row(n, step, i // every)
        for n, step, every in self.pixel_steps:
            if i % every == 0 and j % every == 0:
                self.run_pixel(n, step, i // every, j // every)
        return F.linear(self.elu[len(self.steps) - 1][:, :, i + 1, j + 1], self.output, self.output_bias)

    def mark_unwritten(self):
        """Set every layer's cache cells to NaN (not their zero padding): a step that then reads a
        cell before its layer wrote it gives NaN parameters (the contract test), and
        :meth:`written` shows which cells a run has filled (the fast-sampling figure)."""
        for cache in self.signed:
            cache[:, :, 1:, 1:-1] = float("nan")

    def written(self) -> list:
        """[(step of ``PixelCNNpp.unet()``, bool [H', W'] of the cells written so far, image 0)],
        one per layer, after :meth:`mark_unwritten`."""
        return [(step, ~cache[0, 0, 1:, 1:-1].isnan()) for step, cache in zip(self.steps, self.signed)]

    def write(self, n, r, c, value):
        """Store a signed output [B, 2F] at (r, c), or [B, 2F, w] along row r from column c."""
        target = (slice(None), slice(None), r + 1, c + 1 if value.dim() == 2 else slice(c + 1, c + 1 + value.shape[2]))
        self.signed[n][target] = value
        if n in self.elu:
            self.elu[n][target] = F.elu(value)

    # -- the u stream, a row at a time --------------------------------------------------------------
    def run_row(self, n, step, r):
        """Step ``n``'s row r at the resolution it runs at (its input's, for a transposed
        convolution, which writes the two fine rows that coarse row r feeds)."""
        if step.kind == "input":                                       # u_in on image rows r-2 .. r-1;
            above = self.u_in.row(self.image, r - 1) if r else torch.zeros_like(self.signed[n][:, :, 1, 1:-1])
            self.write(n, r, 0, above)                                 # row 0 sees nothing: zeros
        elif step.kind == "block":
            block, inner = self.frozen[n]
            hidden = block.conv_in.row(self.elu[step.input], r)
            if block.skip is not None:
                skips = torch.cat([self.elu[s][:, :, r + 1, 1:-1] for s in step.skips], 1)
                hidden = hidden + F.conv1d(skips, block.skip.weight[..., 0], block.skip.bias)
            inner[:, :, r + 1, 1:-1] = F.elu(hidden)
            gates = block.conv_out.row(inner, r)
            if block.extra is not None:
                gates = gates + block.extra_at(r)
            self.write(n, r, 0, self.gated(self.signed[step.input][:, :, r + 1, 1:-1], gates))
        elif step.kind == "down":
            self.write(n, r, 0, self.frozen[n].row(self.signed[step.input], 2 * r, stride=2))
        else:
            frozen, cols = self.frozen[n], self.sizes[step.level][1]
            coarse = self.signed[step.input][:, :, r + 1: r + 2, 1:-1]  # [B, 2F, 1, Wc]
            fine = step.layer.crop(F.conv_transpose2d(coarse, frozen.weight.transpose(0, 1), frozen.bias,
                                                      stride=2, output_padding=1), (2, cols))
            for a in range(min(2, self.sizes[step.level][0] - 2 * r)):
                self.write(n, 2 * r + a, 0, fine[:, :, a])

    # -- the ul stream, a pixel at a time -----------------------------------------------------------
    def run_pixel(self, n, step, r, c):
        """Step ``n`` at pixel (r, c) of the resolution it runs at."""
        if step.kind == "input":                                       # ul_in_above on row r-1, once per
            if c == 0:                                                 # row, plus ul_in_left on (r-1 .. r, c-1)
                self.above = self.ul_above.row(self.image, r) if r else None
            value = self.above[:, :, c] if r else torch.zeros_like(self.signed[n][:, :, 1, 1])
            if c:
                value = value + self.ul_left.at(self.image, r, c)
            self.write(n, r, c, value)                                 # (0, 0) sees nothing: zeros
        elif step.kind == "block":
            block, inner = self.frozen[n]
            window = self.elu[step.input][:, :, r: r + 2, c: c + 2].permute(0, 2, 3, 1).reshape(len(inner), block.window)
            if step.skips:
                window = torch.cat([window, *(self.elu[s][:, :, r + 1, c + 1] for s in step.skips)], 1)
            inner[:, :, r + 1, c + 1] = F.elu(F.linear(window, block.first, block.first_bias))
            gates = block.conv_out.at(inner, r, c)
            if block.extra is not None:
                gates = gates + block.extra_at(r, c)
            self.write(n, r, c, self.gated(self.signed[step.input][:, :, r + 1, c + 1], gates))
        elif step.kind == "down":
            self.write(n, r, c, self.frozen[n].at(self.signed[step.input], 2 * r, 2 * c))
        else:                                                          # the 2x2 fine pixels coarse (r, c) feeds
            frozen = self.frozen[n]
            coarse = self.signed[step.input][:, :, r + 1, c + 1]       # [B, 2F_in]
            fine = torch.einsum("bi,oiyx->boyx", coarse, frozen.weight) + frozen.bias[:, None, None]
            rows, cols = self.sizes[step.level]
            for a in range(min(2, rows - 2 * r)):
                for b in range(min(2, cols - 2 * c)):
                    self.write(n, 2 * r + a, 2 * c + b, fine[:, :, a, b])

    @staticmethod
    def gated(signed_input, gates):
        """x + a * sigmoid(b), signed: gates hold [a, -a, b, b]."""
        a, b = gates.chunk(2, 1)
        return signed_input + a * torch.sigmoid(b)
