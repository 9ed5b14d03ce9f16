"""One training loop for every family, and the evaluation that produces test bits/dim.

- Adam with linear warm-up and cosine decay (LambdaLR); optional EMA (Polyak) weights through
  ``torch.optim.swa_utils.AveragedModel``; bf16 autocast on GPU; gradient-norm clipping.
- The data order is a pure function of (seed, step): epoch e is ``randperm`` under seed
  (seed, e). With the weights, optimizer, scheduler, EMA and RNG states in the checkpoint, a
  resumed run continues exactly where the killed one stopped.
- A checkpoint is a folder ``checkpoints/step-NNNNNNN`` written under a temporary name and
  renamed into place, so a kill mid-write leaves the previous checkpoint whole.
- A NaN or infinite loss stops training with its step; the last good checkpoint stays.
"""

import contextlib
import math
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel

from .checkpoint import load_state, load_trainer_state, read_weights, save_trainer_state, save_weights
from .distributed import Context
from .errors import CheckpointError, InputError, TrainingDiverged
from .likelihoods import bits_per_dim
from .models.base import values_checked
from .progress import progress_bar


# Part of every run's plan: bump it when a change to this loop moves the numbers it produces, so
# that no committed result is reused across such a change.
TRAINING_VERSION = 1


@dataclass
class TrainConfig:
    steps: int
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 50                  # steps of linear warm-up
    final_lr_fraction: float = 0.1    # cosine decay ends at lr * this
    ema: float | None = None          # EMA decay, e.g. 0.999; None = no EMA
    grad_clip: float = 1.0
    lr_decay: float | None = None     # instead of the cosine: lr * lr_decay**(steps after warm-up), per iteration
    hflip: bool = False               # augment: each training image mirrored left-right with probability 1/2
    curve_every: int | None = None    # held-out bits/dim of the evaluation weights every N steps (and at the end)
    checkpoint_every: int = 500
    log_every: int = 10
    seed: int = 0
    # The fast path, opt-in; ``python -m pixelbook bench train`` measures each option on its own.
    bf16: bool | None = None          # bf16 autocast; None: on for CUDA, off on the CPU (measured)
    channels_last: bool = False
    compile: bool = False             # torch.compile the objective


# The fast path's defaults: a plan leaves them out, so runs from before they existed keep their hashes.
FAST_PATH = {f.name: f.default for f in fields(TrainConfig) if f.name in ("bf16", "channels_last", "compile")}
# Every option a plan leaves out at its default, for the same reason (the fast path, and options added later).
OPTIONAL = {**FAST_PATH, **{f.name: f.default for f in fields(TrainConfig)
                            if f.name in ("lr_decay", "hflip", "curve_every")}}


@dataclass
class TrainResult:
    steps: int
    images: int
    wallclock_s: float                # time spent in training steps, summed over resumes
    history: list = field(default_factory=list)   # [(step, train bpd averaged since last log)]
    curve: list = field(default_factory=list)     # [(step, images, training seconds, held-out bpd)]


EMA_RULE = "min(decay, (1+n)/(10+n))"     # named in the plans of runs that average, see ema_with_warmup


def ema_with_warmup(decay):
    """Polyak averaging for ``AveragedModel``: decay min(decay, (1 + n) / (10 + n)) after n
    updates, so the average of a short run is not dominated by its first, untrained weights."""
    def average(averaged, current, n):
        if not averaged.is_floating_point():                           # an integer buffer (a palette)
            return current
        d = torch.clamp((1 + n) / (10 + n), max=decay).to(averaged.dtype)
        return averaged * d + current * (1 - d)
    return average


def lr_lambda(config: TrainConfig):
    def factor(step):
        if step < config.warmup:
            return (step + 1) / config.warmup
        if config.lr_decay is not None:                                 # the auxiliary-variable paper's schedule
            return config.lr_decay ** (step - config.warmup)
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return config.final_lr_fraction + (1 - config.final_lr_fraction) * cosine
    return factor


def batch_indices(n_images, batch_size, seed, step, rank=0, world=1):
    """The images of global step ``step`` for process ``rank``: epoch permutations drawn from
    (seed, epoch), the last partial batch of an epoch dropped."""
    global_batch = batch_size * world
    per_epoch = n_images // global_batch
    if per_epoch == 0:
        raise InputError(f"batch size {global_batch} is larger than the {n_images} training images")
    epoch, k = divmod(step, per_epoch)
    order = torch.randperm(n_images, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    start = k * global_batch + rank * batch_size
    return order[start: start + batch_size]


def checkpoints(out_dir) -> list[Path]:
    folder = Path(out_dir) / "checkpoints"
    found = folder.glob("step-*") if folder.is_dir() else []
    return sorted(p for p in found if p.name[5:].isdigit())          # not a half-written step-N.tmp


def _rng_state():
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state):
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class LogLikelihood(torch.nn.Module):
    """``log_prob`` as a module's forward, so a wrapper such as DDP sees the whole objective."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, y=None):
        return self.model.log_prob(x, y)


class Trainer:
    """Owns the optimisation state of one run, so saving and resuming are two small methods."""

    def __init__(self, model, images, labels, config: TrainConfig, out_dir=None, context=None, curve_set=None):
        context = context or Context()
        self.model, self.images, self.labels, self.config = model, images, labels, config
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.context, self.rank, self.world = context, context.rank, context.world
        # Once, on the whole training set: the steps then skip the checks that read values (a GPU sync each)
        model.check_input(images, labels if getattr(model, "num_classes", None) else None)
        wrap = context.wrap(model.device)
        if config.channels_last:
            model.to(memory_format=torch.channels_last)
        objective = LogLikelihood(model)
        self.net = wrap(objective) if wrap is not None else objective   # e.g. DistributedDataParallel
        if config.compile:
            self.net = torch.compile(self.net)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(config))
        self.ema = (AveragedModel(model, avg_fn=ema_with_warmup(config.ema), use_buffers=True)
                    if config.ema else None)
        self.step, self.wallclock, self.history, self.curve = 0, 0.0, [], []
        self.curve_set = curve_set
        if config.curve_every and curve_set is None:
            raise InputError("curve_every needs a held-out set to measure the curve on")
        self.running = (0.0, 0)                                        # loss sum and count since the last log

    @property
    def eval_model(self):
        """The weights to evaluate and sample with: the EMA average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    # -- checkpoints -----------------------------------------------------------------------
    def save(self):
        if self.out_dir is None or self.rank != 0:
            return
        final = self.out_dir / "checkpoints" / f"step-{self.step:07d}"
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_weights(self.model, tmp / "model.safetensors", extra={"step": self.step})
        if self.ema is not None:
            save_weights(self.ema.module, tmp / "ema.safetensors", extra={"step": self.step})
        save_trainer_state({
            "step": self.step, "wallclock": self.wallclock, "history": self.history, "running": self.running,
            "curve": self.curve,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "ema_n_averaged": self.ema.n_averaged if self.ema is not None else None,
            "rng": _rng_state(), "config": asdict(self.config),
        }, tmp / "trainer.pt")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)                                              # atomic on one filesystem
        for old in checkpoints(self.out_dir)[:-2]:                     # keep the last two
            shutil.rmtree(old, ignore_errors=True)

    def resume(self) -> bool:
        """Continue from the newest checkpoint in ``out_dir``; False when there is none."""
        found = checkpoints(self.out_dir) if self.out_dir is not None else []
        if not found:
            return False
        folder = found[-1]
        state = load_trainer_state(folder / "trainer.pt")
        saved = {k: v for k, v in {**OPTIONAL, **state["config"]}.items() if k != "log_every"}
        now = {k: v for k, v in asdict(self.config).items() if k != "log_every"}
        if saved != now:
            diff = ", ".join(f"{k} {saved.get(k)} -> {now.get(k)}" for k in now if saved.get(k) != now[k])
            raise CheckpointError(f"{folder} was trained with other settings ({diff}); "
                                  f"use another --out or the same settings")
        load_state(self.model, read_weights(folder / "model.safetensors")[0], folder)
        if self.ema is not None:
            load_state(self.ema.module, read_weights(folder / "ema.safetensors")[0], folder)
            self.ema.n_averaged.fill_(state["ema_n_averaged"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        self.step, self.wallclock, self.history = state["step"], state["wallclock"], state["history"]
        self.running = tuple(state["running"])
        self.curve = state.get("curve", [])
        return True

    # -- the loop --------------------------------------------------------------------------
    def batch(self, step):
        idx = batch_indices(len(self.images), self.config.batch_size, self.config.seed, step,
                            self.rank, self.world)
        x = self.images[idx]
        if self.config.hflip:                                          # a pure function of (seed, step) too
            flip = torch.rand(len(idx), generator=torch.Generator().manual_seed(
                self.config.seed * 1_000_003 + step + 7_919 + self.rank * 104_729)) < 0.5   # each rank its own
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        x = x.to(self.model.device, non_blocking=True)
        y = self.labels[idx].to(self.model.device) if getattr(self.model, "num_classes", None) else None
        return x, y

    def train_step(self, x, y):
        dims = math.prod(self.model.image_shape)
        bf16 = self.config.bf16 if self.config.bf16 is not None else x.is_cuda
        # (built only when on: autocast knows no 'meta' device, the stand-in for CUDA in the tests)
        autocast = torch.autocast(x.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with autocast, values_checked(self.model):                     # checked once, in __init__
            loss = bits_per_dim(self.net(x, y), dims).mean()
        logged = self.context.sum(loss.detach()) / self.world           # the global batch's mean
        if not logged.is_meta and not torch.isfinite(logged):          # every rank sees the same value
            self.diverged(f"loss became {logged.item()}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        if not norm.is_meta and not torch.isfinite(norm):              # before the weights are touched
            self.diverged(f"gradient norm became {norm.item()}")
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return logged

    def diverged(self, what):
        found = checkpoints(self.out_dir) if self.out_dir is not None else []
        raise TrainingDiverged(f"{what} at step {self.step + 1}; training stopped, last good checkpoint: "
                               f"{found[-1].name if found else 'none'}")

    def run(self, progress=True, deadline=None) -> TrainResult:
        """Train to ``config.steps``; past ``deadline`` (a ``time.monotonic()`` value) stop at a
        checkpoint after the current step instead: the result then has fewer steps (a partial
        run, which ``resume`` continues exactly)."""
        config = self.config
        self.model.train()
        bar = progress_bar(total=config.steps, initial=self.step, desc=f"training {self.model.name}",
                           unit="step", enable=progress and self.rank == 0)
        try:
            while self.step < config.steps:
                start = time.perf_counter()
                loss = self.train_step(*self.batch(self.step)).item()
                self.step += 1
                self.running = (self.running[0] + loss, self.running[1] + 1)
                if self.step % config.log_every == 0 or self.step == config.steps:
                    mean = self.running[0] / self.running[1]
                    self.history.append((self.step, mean))
                    bar.set_postfix(bpd=f"{mean:.3f}")
                    self.running = (0.0, 0)
                self.wallclock += time.perf_counter() - start
                bar.update(1)
                every = config.curve_every
                if every and (self.step % every == 0 or self.step == config.steps):
                    self.measure_curve()
                if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                    self.save()
                elif deadline is not None and time.monotonic() >= deadline:
                    self.save()
                    break
        finally:
            bar.close()
        images = self.step * config.batch_size * self.world
        return TrainResult(self.step, images, self.wallclock, self.history, self.curve)

    def measure_curve(self):
        """Held-out bits/dim of the evaluation weights now, against images seen and training
        seconds (the time spent measuring is not counted)."""
        bpd = evaluate(self.eval_model, self.curve_set, progress=False, context=self.context)["bpd"]
        self.curve.append((self.step, self.step * self.config.batch_size * self.world, round(self.wallclock, 2), bpd))


def train(model, train_set, config: TrainConfig, out_dir=None, resume=False, progress=True, context=None,
          curve_set=None, deadline=None):
    """Train ``model`` on an :class:`pixelbook.data.ImageSet`; returns (TrainResult, eval model).
    ``context`` (``pixelbook.distributed``) makes it one rank of a data-parallel job; ``curve_set``
    is the held-out set of ``config.curve_every``; ``deadline`` see :meth:`Trainer.run`."""
    trainer = Trainer(model, train_set.images, train_set.labels, config, out_dir, context, curve_set)
    if resume:
        trainer.resume()
    result = trainer.run(progress, deadline)
    return result, trainer.eval_model


@torch.no_grad()
def evaluate(model, image_set, batch_size=256, progress=True, per_pixel=False, context=None):
    """Test bits/dim from ``log_prob`` over every image of ``image_set`` (take ``.subset(n)``
    for a declared subset). Returns {"bpd", "images", "nats", "parts"}: ``parts`` is each factor's
    bits per sub-pixel of the full image for models with ``log_prob_parts`` (they sum to "bpd").
    With ``per_pixel`` it adds the mean per-pixel bits map [H, W]. In a data-parallel
    ``context`` each rank takes its contiguous share of the images and the sums are all-reduced."""
    context = context or Context()
    if len(image_set) < context.world:
        raise InputError(f"{len(image_set)} test images cannot be shared by {context.world} processes")
    share = range(len(image_set) * context.rank // context.world, len(image_set) * (context.rank + 1) // context.world)
    if tuple(image_set.image_shape) != model.image_shape or image_set.levels != model.levels:
        raise InputError(f"{image_set.name} images are {list(image_set.image_shape)} with {image_set.levels} "
                         f"levels, but this {model.name} takes {list(model.image_shape)} with {model.levels}")
    was_training = model.training
    model.eval()
    dims = math.prod(model.image_shape)
    total, bits_map, parts = torch.zeros((), dtype=torch.float64), None, {}
    conditional = getattr(model, "num_classes", None)
    try:
        for start in progress_bar(range(share.start, share.stop, batch_size), desc=f"evaluating {model.name}",
                                  unit="batch", enable=progress and context.main):
            stop = min(start + batch_size, share.stop)
            x = image_set.images[start: stop].to(model.device)
            y = image_set.labels[start: stop].to(model.device) if conditional else None
            if hasattr(model, "log_prob_parts"):                       # a bound: log p(x, s(x)) in factors
                for name, value in model.log_prob_parts(x).items():
                    parts[name] = parts.get(name, 0.0) + value.double().sum().item()
                total = torch.tensor(sum(parts.values()), dtype=torch.float64)
            else:
                total += model.log_prob(x, y).double().sum().cpu()
            if per_pixel:                                              # bound models: their last stage's map
                bits = -model.log_prob(x, y, per_pixel=True).double().sum(0).cpu() / math.log(2)
                bits_map = bits if bits_map is None else bits_map + bits
    finally:
        model.train(was_training)
    if context.world > 1:                                              # every rank's sums, in one order
        names = sorted(parts)
        summed = context.sum(torch.tensor([float(total), *(parts[k] for k in names)], dtype=torch.float64))
        total, parts = summed[0], dict(zip(names, summed[1:].tolist()))
        if bits_map is not None:
            bits_map = context.sum(bits_map)
    n = len(image_set)
    result = {"bpd": float(bits_per_dim(total, dims * n)), "images": n, "nats": float(-total / n),
              "parts": {name: -value / (dims * n * math.log(2)) for name, value in parts.items()}}
    if per_pixel:
        result["bits_map"] = bits_map / n
    return result
