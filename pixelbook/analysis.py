"""What a trained model looks at: receptive fields by gradient, and where its bits go."""

import torch


def gradient_receptive_field(model, x, row, col, channel=0, y=None) -> torch.Tensor:
    """|d log p(x[channel, row, col] | past) / d input|, summed over input channels: [H, W].

    Taken through ``model.network`` on the input scaled to [-1, 1], so it works for every
    family whose network reads pixels. Exact zeros are pixels the output cannot see."""
    was_training = model.training
    model.eval()
    try:
        h = model.unit_input(x).detach().requires_grad_(True)          # [B, C, H, W]
        params = model.network(h, y)
        log_p = model.likelihood.sub_pixel_log_prob(params, x)[:, channel, row, col].sum()
        (grad,) = torch.autograd.grad(log_p, h)
    finally:
        model.train(was_training)
    return grad.abs().sum((0, 1))


def pixel_order_map(shape, row, col) -> torch.Tensor:
    """[H, W]: 1 for pixels before (row, col) in raster order, 2 for the pixel itself."""
    H, W = shape
    order = torch.zeros(H * W)
    order[: row * W + col] = 1
    order[row * W + col] = 2
    return order.view(H, W)
