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
}

# Further numbers the chapters quote in prose, each on its own dataset.
PAPER_NOTES = {
    "diagonal_bilstm": [{"value": 79.20, "metric": "nats", "dataset": "binarized_mnist",
                         "cite": "vandenoord2016pixelrnn"}],
    "gated_pixelcnn": [{"value": 3.57, "metric": "bpd", "dataset": "imagenet64", "cite": "vandenoord2016conditional"}],
    "pixelrnn_imagenet": [{"value": 3.86, "metric": "bpd", "dataset": "imagenet32", "cite": "vandenoord2016pixelrnn"},
                          {"value": 3.63, "metric": "bpd", "dataset": "imagenet64", "cite": "vandenoord2016pixelrnn"}],
}


def paper_result(model: str) -> dict | None:
    return PAPER_RESULTS.get(model)
