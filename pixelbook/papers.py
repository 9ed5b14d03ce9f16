"""The papers' own numbers, kept apart from ours: shown beside our tables, never mixed into them.

Each entry is the paper's result for the row nearest to one of our models, on the paper's
dataset. The citation keys are those of ``references.bib``.
"""

PAPER_RESULTS = {
    # PixelRNN paper, Table 5 (CIFAR-10 test NLL in bits/dim).
    "pixelcnn": {"value": 3.14, "metric": "bpd", "dataset": "cifar10", "cite": "vandenoord2016pixelrnn"},
    "row_lstm": {"value": 3.07, "metric": "bpd", "dataset": "cifar10", "cite": "vandenoord2016pixelrnn"},
    "diagonal_bilstm": {"value": 3.00, "metric": "bpd", "dataset": "cifar10", "cite": "vandenoord2016pixelrnn"},
    # Conditional Image Generation with PixelCNN Decoders, Table 1 (also 3.57 on ImageNet 64x64).
    "gated_pixelcnn": {"value": 3.03, "metric": "bpd", "dataset": "cifar10", "cite": "vandenoord2016conditional"},
    # PixelCNN++, Table 1: the openai/pixel-cnn model.
    "pixelcnn_pp": {"value": 2.92, "metric": "bpd", "dataset": "cifar10", "cite": "salimans2017pixelcnnpp"},
    # PixelCNN Models with Auxiliary Variables: Grayscale from Table 1 (and section 4.1), Pyramid's
    # CIFAR-10 score from the text of section 4.2. Both are upper bounds.
    "grayscale_pixelcnn": {"value": 2.98, "metric": "bpd (upper bound)", "dataset": "cifar10",
                           "cite": "kolesnikov2017pixelcnn"},
    "pyramid_pixelcnn": {"value": 3.32, "metric": "bpd (upper bound)", "dataset": "cifar10",
                         "cite": "kolesnikov2017pixelcnn"},
}

# The families with no paper number in PAPER_RESULTS, and why (every family has one or the other).
NO_PAPER_RESULT = {
    "multiscale_pixelrnn": "the PixelRNN paper's multi-scale numbers were not checked against its text here",
    "igpt": "ImageGPT reports no CIFAR-10 bits/dim (its numbers are linear-probe accuracies)",
}

# The auxiliary-variable paper's decompositions, which its chapter sets beside ours. Grayscale:
# the terms of the CIFAR-10 bound, in bits per sub-pixel of the full image, from the text of
# section 4.1 (Table 1 gives only the total). Pyramid: the CelebA 128x128 model's Table 2, coarsest
# first; its caption says only "for various resolutions", so whether each number is the level's
# own bits/dim given the level below or the bound at that resolution is ambiguous.
PAPER_PARTS = {
    "grayscale_pixelcnn": {"dataset": "cifar10", "cite": "kolesnikov2017pixelcnn",
                           "parts": {"sketch": 0.459, "detail": 2.52}, "total": 2.98},
    "pyramid_pixelcnn": {"dataset": "celeba128", "cite": "kolesnikov2017pixelcnn",
                         "levels": {"8x8": 4.58, "16x16": 4.30, "32x32": 3.33, "64x64": 2.61, "128x128": 1.52}},
}

# Further numbers the chapters quote in prose, each on its own dataset.
PAPER_NOTES = {
    "diagonal_bilstm": [{"value": 79.20, "metric": "nats", "dataset": "binarized_mnist",
                         "cite": "vandenoord2016pixelrnn"}],
    "gated_pixelcnn": [{"value": 3.57, "metric": "bpd", "dataset": "imagenet64", "cite": "vandenoord2016conditional"}],
    "pixelrnn_imagenet": [{"value": 3.86, "metric": "bpd", "dataset": "imagenet32", "cite": "vandenoord2016pixelrnn"},
                          {"value": 3.63, "metric": "bpd", "dataset": "imagenet64", "cite": "vandenoord2016pixelrnn"}],
}

# ImageGPT's published facts (Chen et al. 2020, cite key chen2020igpt), shown in their own table.
IGPT_FACTS = [
    ("palette", "512 colours, k-means over (R, G, B) pixel values"),
    ("sequence lengths", "32² = 1024, 48² = 2304 and 64² = 4096 palette tokens"),
    ("iGPT-S / M / L", "24 / 36 / 48 layers of width 512 / 1024 / 1536"),
    ("best linear-probe layer", "near the middle of the network, not the last"),
    ("CIFAR-10 linear probe", "96.3% accuracy (iGPT-L)"),
]


def paper_result(model: str) -> dict | None:
    return PAPER_RESULTS.get(model)
