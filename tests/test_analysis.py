"""Receptive fields by gradient agree with what each family claims to see."""

import pytest
import torch

import pixelbook as pb
from pixelbook.analysis import gradient_receptive_field, pixel_order_map
from pixelbook.models.base import AutoregressiveModel

PIXEL_FAMILIES = [n for n in pb.models.names()
                  if pb.models.family(n).network is not AutoregressiveModel.network]


@pytest.mark.parametrize("name", PIXEL_FAMILIES)
def test_gradient_support_is_the_claimed_context(name):
    torch.manual_seed(0)
    model = pb.models.create(name, (1, 12, 12), 4).double()
    x = torch.randint(0, 4, (4, 1, 12, 12))
    for row, col in [(11, 1), (6, 6), (0, 5)]:
        support = gradient_receptive_field(model, x, row, col) > 0
        assert torch.equal(support, model.context(0, row, col)[0]), (row, col)


def test_pixel_order_map():
    order = pixel_order_map((2, 3), 1, 1)
    assert order.tolist() == [[1, 1, 1], [1, 2, 0]]
