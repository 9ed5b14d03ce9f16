"""Data-parallel training on torch.distributed, launched by ``torchrun``; no engine of our own.

``torchrun --nproc_per_node=K -m pixelbook train ...`` starts K processes and sets RANK,
LOCAL_RANK and WORLD_SIZE. :func:`context` reads them and starts the process group (NCCL for
GPU tensors, gloo for CPU ones). The rest of the library stays single-process code with four hooks:

- the training objective is wrapped in ``DistributedDataParallel``, which averages gradients,
  and the logged loss is the mean over ranks, so the curve and the NaN check are global;
- each rank reads its own slice of every global batch (``train.batch_indices``), so the global
  batch is K x the per-rank batch;
- evaluation sums each rank's slice of the test set with ``all_reduce``, so test bits/dim is
  that of the whole split;
- rank 0 alone writes checkpoints, metrics and figures.

Without torchrun, ``context()`` is a world of one and nothing here runs.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import PixelbookError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """Each process on its own GPU (LOCAL_RANK); on the CPU, the CPU."""
        return torch.device("cuda", self.local_rank) if device.type == "cuda" and self.world > 1 else device

    def wrap(self, device):
        """A wrapper for the training objective: DistributedDataParallel when world > 1."""
        if self.world == 1:
            return None
        from torch.nn.parallel import DistributedDataParallel
        ids = [device.index] if device.type == "cuda" else None
        return lambda module: DistributedDataParallel(module, device_ids=ids)

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The sum over ranks of a tensor, through gloo on the CPU (identity in a world of one)."""
        if self.world == 1:
            return values
        reduced = values.detach().cpu().clone()
        dist.all_reduce(reduced)
        return reduced.to(values.device)


def context() -> Context:
    """The process's place in a torchrun job, starting the process group on first use."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Context()
    if not dist.is_available():
        raise PixelbookError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
        # gloo for CPU tensors (a --device cpu run, the small all-reduces), NCCL for GPU ones
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(), local_rank)


def finish():
    """Leave the process group (end of a torchrun command). No barrier: rank 0 may still be
    drawing samples, and the other ranks need not wait for it."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
