"""Weights in safetensors (self-describing), trainer state beside them, all written atomically.

A weights file carries the model's config (family, size knobs, image shape, levels) and the
commit that wrote it in its metadata, so ``load_model(path)`` rebuilds the right family at the
right size without being told, and checks the config before it builds anything. Everything that can be wrong with a file
(truncated, not safetensors, another model, another shape) ends in one :class:`CheckpointError`.
"""

import io
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from . import models
from .errors import CheckpointError, PixelbookError
from .provenance import git_commit
from .storage import write_atomic

FORMAT = "pixelbook-weights-1"


def save_weights(model, path, dtype=None, extra: dict | None = None):
    """``dtype=torch.bfloat16`` halves the file (for bringing GPU runs back under 16 MiB)."""
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous().cpu()
             for k, v in model.state_dict().items()}
    commit, dirty = git_commit()
    metadata = {"format": FORMAT, "config": json.dumps(model.config), "commit": commit + ("-dirty" if dirty else ""),
                **(extra or {})}
    write_atomic(path, save_safetensors(state, metadata={k: str(v) for k, v in metadata.items()}))


def read_weights(path) -> tuple[dict, dict]:
    """(tensors, metadata) of a weights file, or one clear line saying what is wrong with it."""
    path = Path(path)
    if path.is_dir():                     # a run folder, else a checkpoints/step-N folder
        found = [path / name for name in ("weights.safetensors", "ema.safetensors", "model.safetensors")
                 if (path / name).is_file()]
        path = found[0] if found else path / "weights.safetensors"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt: "
                              f"{str(e).splitlines()[0]})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pixelbook weights file (no '{FORMAT}' metadata)")
    return tensors, metadata


def load_state(model, tensors, path):
    """Load ``tensors`` strictly, turning torch's multi-line complaint into one line."""
    own = model.state_dict()
    missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = [k for k in own if k in tensors and tensors[k].shape != own[k].shape]
    if missing or extra or wrong:
        detail = "; ".join(f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for what, keys in (("missing", missing), ("unexpected", extra),
                                              ("wrong shape", wrong)) if keys)
        raise CheckpointError(f"{path} does not fit {model.name} {model.config['size']} ({detail})")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()})


def load_model(path, expect: dict | None = None, device="cpu"):
    """Rebuild the model a weights file describes. ``expect`` (e.g. ``{"model": "pixelcnn",
    "image_shape": [1, 28, 28]}``) guards against loading the wrong checkpoint."""
    tensors, metadata = read_weights(path)
    try:
        config = json.loads(metadata["config"])
        config["model"], config["image_shape"], config["levels"], config["size"]
    except (KeyError, ValueError, TypeError):
        raise CheckpointError(f"{path}: its metadata does not describe a model (damaged 'config')") from None
    for key, want in (expect or {}).items():
        if key in config and config[key] != want:
            raise CheckpointError(f"{path} holds {config['model']} with {key}={config[key]}, "
                                  f"not {want}")
    try:
        model = models.create(config["model"], config["image_shape"], config["levels"], **config["size"])
    except PixelbookError as e:
        raise CheckpointError(f"{path}: cannot rebuild its model ({e})") from None
    load_state(model, tensors, path)
    return model.to(device).eval(), metadata


def save_trainer_state(state: dict, path):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def load_trainer_state(path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged pickle/zip
        raise CheckpointError(f"{path}: unreadable trainer state (truncated or corrupt: "
                              f"{type(e).__name__})") from None
