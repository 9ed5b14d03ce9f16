"""Progress bars (tqdm) for training, evaluation and sampling, switchable in one place.

``PIXELBOOK_PROGRESS=0`` silences every bar (CI logs, nbval comparisons)."""

import os

from tqdm import tqdm  # text bars: they work in terminals, notebooks and logs alike


def progress_bar(iterable=None, desc=None, enable=True, **kwargs):
    disabled = not enable or os.environ.get("PIXELBOOK_PROGRESS", "1") == "0"
    return tqdm(iterable, desc=desc, disable=disabled, dynamic_ncols=True, **kwargs)
