"""The papers' own numbers, kept apart from ours: shown beside our tables, never mixed into them.

Each entry is the paper's result for the row nearest to one of our models, on the paper's
dataset. The citation keys are those of ``references.bib``.
"""

PAPER_RESULTS = {
    # PixelRNN paper, Table 5 (CIFAR-10 test NLL in bits/dim).
    "pixelcnn": {"value": 3.14, "metric": "bpd", "dataset": "cifar10", "cite": "vandenoord2016pixelrnn"},
}


def paper_result(model: str) -> dict | None:
    return PAPER_RESULTS.get(model)
