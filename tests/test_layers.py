"""Masked convolutions: the spatial mask, the R -> G -> B channel groups, and the reach."""

import pytest
import torch

from pixelbook.layers import MaskedConv2d, causal_mask, channel_groups, dilate


def test_channel_groups_are_contiguous_blocks():
    assert channel_groups(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert channel_groups(3, 3).tolist() == [0, 1, 2]
    assert channel_groups(4, 1).tolist() == [0, 0, 0, 0]


def test_spatial_mask_a_and_b():
    a = causal_mask(1, 1, (3, 3), "A")[0, 0]
    b = causal_mask(1, 1, (3, 3), "B")[0, 0]
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_colour_masks_at_the_centre():
    """Mask A: G reads R, B reads R and G; mask B adds each group to itself."""
    centre = lambda mask_type: causal_mask(3, 3, (1, 1), mask_type, groups=3)[:, :, 0, 0].int().tolist()
    assert centre("A") == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    assert centre("B") == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_gradient_never_reaches_the_future(mask_type):
    torch.manual_seed(0)
    conv = MaskedConv2d(3, 6, 5, mask_type, groups=3).double()
    x = torch.randn(1, 3, 7, 7, dtype=torch.float64, requires_grad=True)
    for out_channel in range(6):
        (grad,) = torch.autograd.grad(conv(x)[0, out_channel, 3, 3], x)
        group = out_channel * 3 // 6
        assert grad[0, :, 4:].abs().sum() == 0                             # rows below
        assert grad[0, :, 3, 4:].abs().sum() == 0                          # right, same row
        visible = group + (1 if mask_type == "B" else 0)                  # centre: earlier groups
        assert grad[0, visible:, 3, 3].abs().sum() == 0
        if visible:
            assert grad[0, :visible, 3, 3].abs().min() > 0


def test_rejects_unknown_mask_type():
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2d(1, 1, 3, "C")


def test_dilate_grows_the_cone():
    reach = torch.zeros(5, 5, dtype=torch.bool)
    reach[4, 2] = True
    once = dilate(reach, (3, 3), "B")
    assert once.nonzero().tolist() == [[3, 1], [3, 2], [3, 3], [4, 1], [4, 2]]
    first = dilate(reach, (3, 3), "A")
    assert not first[4, 2] and first[4, 1] and first[3, 3]
