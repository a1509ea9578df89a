"""The training loop: resumable, time-boxed, single-GPU, CPU or DDP.

:func:`train` runs ``TrainConfig.steps`` optimizer steps of the shape network on scenes
drawn by :class:`~lift3d.train.data.SceneStream` in DataLoader workers and rendered on
the training device. It is written for short leases of a GPU:

* it checkpoints every ``ckpt_every`` steps and when it stops, and by default resumes
  from ``OUT/last.json`` (same LR schedule, new scenes, RNG states restored);
* with a ``time_budget`` it stops on its own, leaving time for the final checkpoint,
  and SIGTERM/SIGINT make it stop the same way at the next step;
* it logs JSON lines to ``OUT/log.jsonl`` (training every ``log_every`` steps with the
  split of time between waiting for data, rendering and training; validation every
  ``val_every`` steps on a fixed set of ``split="eval"`` scenes kept on the device).

Under ``torchrun`` (``WORLD_SIZE > 1``) the same code initialises a process group (NCCL
on CUDA, gloo on CPU), wraps the model in DistributedDataParallel, splits the global
batch over ranks, and logs, validates and checkpoints on rank 0 only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..shape import netio
from ..synth.types import SynthBatch
from . import checkpoint as ckpt
from .data import (
    RenderFn,
    SampleFn,
    SceneStream,
    augment,
    keep_list,
    load_assets_cached,
    render_fn,
    render_in_chunks,
    sample_fn,
    worker_init,
)
from .losses import TERMS, LossWeights, shape_loss_terms
from .model import ShapeNet, count_parameters

__all__ = ["TrainConfig", "TrainResult", "evaluate", "lr_factor", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Options of a training run (the CLI flags of ``python -m lift3d.train``).

    Attributes:
        out: run directory: checkpoints, ``log.jsonl``.
        steps: total optimizer steps; the LR schedule spans them.
        batch: global batch (split evenly over DDP ranks).
        size: rendered crop side, pixels (a multiple of 32).
        lr: peak AdamW learning rate.
        weight_decay: AdamW decoupled weight decay (not on norms and biases).
        warmup: linear warm-up steps (``0``: 5 % of ``steps``, at most 1000).
        width: :class:`ShapeNet` base width.
        time_budget: seconds since start after which the run stops and checkpoints
            (``0``: no limit).
        ckpt_every, val_every, log_every: periods in steps (``0`` disables).
        val_size: number of fixed evaluation scenes.
        workers: DataLoader worker processes (``0``: draw scenes in the main process).
        prefetch: lists of scenes each worker keeps ready.
        seed: seed of data, initialisation and augmentation.
        assets: ``"auto"`` (:func:`lift3d.synth.assets.ensure_assets`), ``"none"``
            (procedural only) or a file for :func:`lift3d.synth.assets.load_assets`.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        resume: continue from ``out/last.json``; ``None``: when it exists.
        ssaa: supersampling factor passed to the renderer.
        clip: gradient-norm clipping threshold.
        augment: random flips and colour jitter.
        compile: ``torch.compile`` the model (CUDA only).
        channels_last: NHWC memory format on CUDA (slower for this GroupNorm network
            on an H200 in bf16: 50 vs 40 ms per batch of 64, so off by default).
        echo: optimizer steps per rendered batch (data echoing), each with its own
            flips and jitter: when rendering is the bottleneck, ``echo > 1`` gives more
            steps per second at the cost of less distinct data per step.
        save_margin: seconds kept free before ``time_budget`` for the final save
            (raised automatically to twice the slowest save seen).
        stop_at: stop this call (checkpoint, exit cleanly) once this step is reached,
            without changing the schedule (``0``: run to ``steps``).
        schedule_start: step at which the LR schedule (warm-up, then cosine to
            ``steps``) begins. Set it to the step of a finished checkpoint, with a larger
            ``steps``, to train on from it with a fresh schedule (a warm restart) and
            peak ``lr``; ``0`` is one schedule over the whole run.
    """

    out: str
    steps: int = 20000
    batch: int = 64
    size: int = netio.INPUT_SIZE
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 0
    width: int = 32
    time_budget: float = 0.0
    ckpt_every: int = 500
    val_every: int = 250
    val_size: int = 256
    log_every: int = 50
    workers: int = 12
    prefetch: int = 4
    seed: int = 0
    assets: str = "auto"
    device: str = "auto"
    resume: bool | None = None
    ssaa: int = 1
    clip: float = 1.0
    augment: bool = True
    compile: bool = False
    channels_last: bool = False
    echo: int = 1
    save_margin: float = 20.0
    stop_at: int = 0
    schedule_start: int = 0

    def __post_init__(self) -> None:
        positive = ("steps", "batch", "size", "width", "ssaa", "echo")
        for name in positive:
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        non_negative = ("warmup", "time_budget", "ckpt_every", "val_every", "val_size",
                        "log_every", "workers", "weight_decay", "save_margin", "stop_at",
                        "schedule_start")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.size % 32:
            raise InputError(f"size must be a multiple of 32, got {self.size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a positive number, got {self.lr}")
        if self.prefetch <= 0:
            raise InputError(f"prefetch must be positive, got {self.prefetch}")
        if not (self.clip > 0):
            raise InputError(f"clip must be positive, got {self.clip}")
        if self.schedule_start >= self.steps:
            raise InputError(f"schedule_start ({self.schedule_start}) must be below steps "
                             f"({self.steps}): raise --steps to train on past a finished run")

    @property
    def warmup_steps(self) -> int:
        """Warm-up length actually used (from ``schedule_start``)."""
        return self.warmup or max(1, min(1000, (self.steps - self.schedule_start) // 20))

    def lr_at(self, step: int) -> float:
        """LR multiplier at ``step`` (a total step count, as in checkpoints)."""
        if step < self.schedule_start:
            return 1.0  # steps before a restart were run under an earlier schedule
        return lr_factor(step - self.schedule_start, self.steps - self.schedule_start,
                         self.warmup_steps)


@dataclass(frozen=True)
class TrainResult:
    """How a call of :func:`train` ended.

    Attributes:
        step: optimizer steps done in total (across resumes).
        samples_seen: training samples drawn in total.
        reason: ``"done"`` (reached ``steps``), ``"budget"`` (time budget),
            ``"stop_at"`` (reached ``stop_at``) or ``"signal"`` (SIGTERM/SIGINT).
        elapsed_s: wall time of this call.
        val: the last validation metrics of this call, or ``None``.
        out: the run directory.
        model: the trained network (unwrapped, on the training device, train mode).
    """

    step: int
    samples_seen: int
    reason: str
    elapsed_s: float
    val: dict[str, float] | None
    out: Path
    model: nn.Module


def lr_factor(step: int, steps: int, warmup: int, floor: float = 0.02) -> float:
    """LR multiplier at ``step``: linear warm-up, then cosine decay to ``floor``."""
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, steps - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


# ---------------------------------------------------------------------------------------
# Process group and device


@dataclass(frozen=True)
class _Dist:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r}: CUDA is not available")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
    elif dev.type != "cpu":
        raise InputError(f"device must be auto, cpu or cuda[:N], got {name!r}")
    return dev


def _init_dist(device: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = _resolve_device(device, local)
    if world > 1:
        import torch.distributed as dist

        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            if dev.type == "cuda":
                # Naming the device binds NCCL to it up front (and silences barrier()).
                dist.init_process_group("nccl", device_id=dev)
            else:
                dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    return _Dist(rank=rank, world=world, device=dev)


def _all_reduce_mean(x: torch.Tensor, d: _Dist) -> torch.Tensor:
    if d.world > 1:
        import torch.distributed as dist

        x = x.clone()
        dist.all_reduce(x)
        x /= d.world
    return x


# ---------------------------------------------------------------------------------------
# Timing


class _StepTimer:
    """Splits each step into data wait (CPU clock), render and train (device clock).

    On CUDA the render/train split uses events read only at log time, so timing
    adds no synchronisation to the step.
    """

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.reset()

    def reset(self) -> None:
        self.data_s = 0.0
        self.marks: list[tuple[Any, Any, Any]] = []
        self.t0 = time.perf_counter()
        self.steps = 0

    def now(self) -> Any:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def add(self, data_s: float, a: Any, b: Any, c: Any) -> None:
        self.data_s += data_s
        self.marks.append((a, b, c))
        self.steps += 1

    def summary(self) -> dict[str, float]:
        """Mean per-step milliseconds and the window's wall time (synchronises)."""
        n = max(1, self.steps)
        if self.cuda:
            torch.cuda.synchronize()
            render = sum(a.elapsed_time(b) for a, b, _ in self.marks)
            train = sum(b.elapsed_time(c) for _, b, c in self.marks)
        else:
            render = 1e3 * sum(b - a for a, b, _ in self.marks)
            train = 1e3 * sum(c - b for _, b, c in self.marks)
        return {"data_ms": 1e3 * self.data_s / n, "render_ms": render / n,
                "train_ms": train / n, "wall_s": time.perf_counter() - self.t0}


# ---------------------------------------------------------------------------------------
# Pieces of the loop


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, plain = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else plain).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": plain, "weight_decay": 0.0}]


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _prep_input(batch: SynthBatch, channels_last: bool = False) -> torch.Tensor:
    img = batch.image
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    return img


@torch.no_grad()
def evaluate(
    model: nn.Module,
    val: SynthBatch,
    chunk: int = 64,
    weights: LossWeights | None = None,
) -> dict[str, float]:
    """Loss parts and metrics of ``model`` on a rendered evaluation batch.

    Args:
        model: the network (run in eval mode, restored to its previous mode after).
        val: evaluation samples on the model's device.
        chunk: samples per forward pass.

    Returns:
        ``{"loss": ..., <each term of TERMS>: ..., "mask_iou": ..., "front_mae": ...,
        "back_mae": ...}``: sample-weighted means. ``mask_iou`` is the mean per-sample
        IoU of ``sigmoid(mask) > 0.5`` against coverage ``> 0.5``; the MAEs are mean
        absolute normalised depth errors inside the true object.
    """
    was_training = model.training
    model.eval()
    device = val.image.device
    n = val.image.shape[0]
    sums = torch.zeros(len(TERMS) + 4, dtype=torch.float64, device=device)
    try:
        for i in range(0, n, chunk):
            part = SynthBatch(**{f.name: getattr(val, f.name)[i:i + chunk]
                                 for f in dataclasses.fields(SynthBatch)})
            with _autocast(device):
                out = model(part.image)
            total, terms = shape_loss_terms(out, part, weights)
            out = out.float()
            inside = part.mask > 0.5
            pred = out[:, netio.CH_MASK:netio.CH_MASK + 1] > 0
            inter = (pred & inside).flatten(1).sum(1).float()
            union = (pred | inside).flatten(1).sum(1).float()
            iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
            cnt = inside.flatten(1).sum(1).float().clamp_min(1)
            fe = ((out[:, netio.CH_FRONT:netio.CH_FRONT + 1] - part.depth[:, 0:1]).abs()
                  * inside).flatten(1).sum(1) / cnt
            be = ((out[:, netio.CH_BACK:netio.CH_BACK + 1] - part.depth[:, 1:2]).abs()
                  * inside).flatten(1).sum(1) / cnt
            b = out.shape[0]
            sums += torch.cat([total.reshape(1), terms, iou.sum().reshape(1) / b,
                               fe.sum().reshape(1) / b, be.sum().reshape(1) / b]).double() * b
    finally:
        model.train(was_training)
    vals = (sums / max(1, n)).tolist()
    names = ["loss", *TERMS, "mask_iou", "front_mae", "back_mae"]
    return dict(zip(names, vals, strict=True))


class _StopFlag:
    """Set by SIGTERM/SIGINT while training runs in the main thread."""

    def __init__(self) -> None:
        self.signalled = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        logger.warning("received signal %d: stopping after this step", signum)
        self.signalled = True

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class _JsonLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_jsonable) + "\n")


def _jsonable(x: Any) -> Any:
    if isinstance(x, Path):
        return str(x)
    if torch.is_tensor(x):
        return x.tolist()
    return repr(x)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


# ---------------------------------------------------------------------------------------
# Training


def train(
    cfg: TrainConfig,
    *,
    sampler: SampleFn | None = None,
    renderer: RenderFn | None = None,
    weights: LossWeights | None = None,
) -> TrainResult:
    """Train (or continue training) the shape network as ``cfg`` says.

    Args:
        cfg: the run's options.
        sampler: ``sample(seed, index, split, assets) -> Scene``; default
            :func:`lift3d.synth.scene.sample_scene`.
        renderer: ``render(scenes, size, device=, ssaa=) -> SynthBatch``; default
            :func:`lift3d.synth.render.render_scenes`.
        weights: loss weights (default :class:`LossWeights`).

    Returns:
        a :class:`TrainResult`. The run directory holds ``last.*`` (always, on rank 0),
        ``model.*`` (once ``steps`` are done) and ``log.jsonl``.

    Raises:
        InputError: bad options, or a checkpoint made for another model width.
        RuntimeError: the loss became non-finite (nothing is saved then; resume from
            the last good checkpoint, with a lower LR).
    """
    t_start = time.monotonic()
    d = _init_dist(cfg.device)
    if cfg.batch % d.world:
        raise InputError(f"batch {cfg.batch} must be divisible by the {d.world} ranks")
    per_rank = cfg.batch // d.world
    out = Path(cfg.out)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
    log = _JsonLog(out / "log.jsonl" if d.main else None)
    sampler = sampler or sample_fn()
    renderer = renderer or render_fn()

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = ShapeNet(width=cfg.width)
    params = count_parameters(model)
    opt_kw: dict[str, Any] = {"lr": cfg.lr, "betas": (0.9, 0.99)}
    if d.device.type == "cuda":
        opt_kw["fused"] = True
    model.to(d.device)
    channels_last = cfg.channels_last and d.device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if d.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), **opt_kw)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cfg.lr_at(s))

    step, samples_seen, resumed = 0, 0, False
    resume = ckpt.has_checkpoint(out) if cfg.resume is None else cfg.resume
    if not resume and ckpt.has_checkpoint(out) and d.main:
        logger.warning("--no-resume: starting from scratch; %s/last.* will be overwritten", out)
    if resume:
        if not ckpt.has_checkpoint(out):
            logger.warning("--resume: no checkpoint in %s, starting from scratch", out)
        else:
            state = ckpt.load_checkpoint(out, map_location="cpu")
            if state.get("model_config") != model.config:
                raise InputError(f"checkpoint in {out} is for model {state.get('model_config')}, "
                                 f"not {model.config}: use the same --width or a new --out")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            # The schedule is this call's: its peak LR, length and restart point may
            # differ from the checkpoint's (a warm restart), so never keep the saved ones.
            sched.base_lrs = [cfg.lr] * len(opt.param_groups)
            for g in opt.param_groups:
                g["initial_lr"] = cfg.lr
                g["lr"] = cfg.lr * cfg.lr_at(int(state["step"]))
            step, samples_seen = int(state["step"]), int(state["samples_seen"])
            ckpt.restore_rng(state.get("rng", {}))
            old = state.get("config", {})
            changed = {k: (old.get(k), v) for k, v in dataclasses.asdict(cfg).items()
                       if k in ("steps", "batch", "lr", "size", "seed", "warmup", "echo",
                                "schedule_start")
                       and old.get(k) != v}
            if changed:
                logger.warning("resuming with changed options (old, new): %s", changed)
            resumed = True
            del state

    train_model: nn.Module = model
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[d.device.index] if d.device.type == "cuda"
                          else None, gradient_as_bucket_view=True)
    if cfg.compile and d.device.type == "cuda":
        train_model = torch.compile(train_model)

    # Resolved once here: forked workers inherit it, spawned ones get a pickled copy.
    assets = load_assets_cached(cfg.assets)
    # The stream counts rendered batches: with echo k, batch r serves steps [r k, r k + k).
    stream = SceneStream(cfg.seed, per_rank, start_step=step // cfg.echo,
                         stop_step=-(-cfg.steps // cfg.echo),
                         rank=d.rank, world=d.world, split="train", assets=assets,
                         sampler=sampler)
    loader = torch.utils.data.DataLoader(
        stream, batch_size=None, collate_fn=keep_list, num_workers=cfg.workers,
        persistent_workers=cfg.workers > 0, worker_init_fn=worker_init,
        prefetch_factor=cfg.prefetch if cfg.workers > 0 else None)

    val: SynthBatch | None = None
    if d.main and cfg.val_every and cfg.val_size:
        t = time.perf_counter()
        scenes = [sampler(cfg.seed, i, "eval", assets) for i in range(cfg.val_size)]
        val = render_in_chunks(scenes, cfg.size, d.device, chunk=per_rank, ssaa=cfg.ssaa,
                               renderer=renderer)
        logger.info("validation set: %d eval scenes rendered in %.1f s", cfg.val_size,
                    time.perf_counter() - t)

    dev_name = (torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else "cpu")
    log.write({"kind": "start", "step": step, "samples_seen": samples_seen, "resumed": resumed,
               "device": dev_name, "world": d.world, "params": params,
               "torch": torch.__version__, "config": dataclasses.asdict(cfg),
               "time": time.time()})
    logger.info("%s at step %d/%d on %s x%d: %s params, batch %d, size %d",
                "resuming" if resumed else "starting", step, cfg.steps, dev_name, d.world,
                f"{params:,}", cfg.batch, cfg.size)

    def save(final: bool, val_metrics: dict[str, float] | None) -> float:
        t = time.perf_counter()
        if d.main:
            net = ckpt.unwrap(model)
            finite = torch.stack([p.detach().isfinite().all() for p in net.parameters()])
            if not bool(finite.all()):
                # Never overwrite the last good checkpoint with a diverged model.
                log.write({"kind": "error", "step": step, "error": "non-finite weights"})
                raise RuntimeError(f"weights became non-finite by step {step}; resume from "
                                   f"the last checkpoint with a lower --lr")
            state = {
                "model": net.state_dict(),
                "model_config": net.config,
                "optimizer": ckpt.compact_optimizer_state(opt.state_dict()),
                "scheduler": sched.state_dict(),
                "scaler": None,
                "step": step,
                "samples_seen": samples_seen,
                "rng": ckpt.capture_rng(),
                "config": dataclasses.asdict(cfg),
                "val": val_metrics,
            }
            ckpt.save_checkpoint(out, state)
            if final:
                ckpt.save_model_only(out, net, {"step": step, "samples_seen": samples_seen,
                                                "config": dataclasses.asdict(cfg),
                                                "val": val_metrics})
        return time.perf_counter() - t

    gen = torch.Generator(device=d.device)
    timer = _StepTimer(d.device)
    acc = torch.zeros(len(TERMS) + 2, device=d.device)
    acc_n = 0
    last_val: dict[str, float] | None = None
    slowest_save = 0.0
    step_s = 0.0  # wall seconds of one step, running estimate
    reason = "done"
    sync_every = 10 if d.world > 1 else 1
    rendered: SynthBatch | None = None
    rendered_index = -1
    it: Iterator[list] = iter(loader)
    train_model.train()
    with _StopFlag() as flag:
        while step < cfg.steps:
            if cfg.stop_at and step >= cfg.stop_at:
                reason = "stop_at"
                break
            # Stop before the budget runs out: the steps until the next check plus the
            # final save must fit. Ranks decide together, every sync_every steps.
            if step % sync_every == 0:
                stop = 2 if flag.signalled else 0
                if not stop and cfg.time_budget:
                    margin = max(cfg.save_margin, 2.0 * slowest_save) + (sync_every + 2) * step_s
                    if time.monotonic() - t_start + margin > cfg.time_budget:
                        stop = 1
                if d.world > 1:
                    import torch.distributed as dist

                    flag_t = torch.tensor([stop], device=d.device)
                    dist.all_reduce(flag_t, op=dist.ReduceOp.MAX)
                    stop = int(flag_t.item())
                if stop:
                    reason = "signal" if stop == 2 else "budget"
                    break

            t0 = t1 = time.perf_counter()
            m0 = timer.now()
            with torch.no_grad():
                if step // cfg.echo != rendered_index:
                    scenes = next(it)
                    t1 = time.perf_counter()
                    m0 = timer.now()
                    rendered = renderer(scenes, cfg.size, device=d.device, ssaa=cfg.ssaa)
                    rendered_index = step // cfg.echo
                batch = rendered
                if cfg.augment:
                    # Seeded by step: a resumed run augments exactly as an unbroken one.
                    gen.manual_seed(hash((cfg.seed, step, d.rank)) & 0x7FFF_FFFF_FFFF)
                    batch = augment(batch, gen)
            m1 = timer.now()
            with _autocast(d.device):
                pred = train_model(_prep_input(batch, channels_last))
            loss, terms = shape_loss_terms(pred, batch, weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            sched.step()
            m2 = timer.now()
            timer.add(t1 - t0, m0, m1, m2)
            step += 1
            samples_seen += cfg.batch
            acc += torch.cat([loss.detach().reshape(1), terms, gnorm.detach().reshape(1)])
            acc_n += 1
            step_s = 0.9 * step_s + 0.1 * (time.perf_counter() - t0) if step_s else (
                time.perf_counter() - t0)

            if (cfg.log_every and step % cfg.log_every == 0) or step == cfg.steps:
                mean = _all_reduce_mean(acc / acc_n, d).tolist()
                if not all(math.isfinite(v) for v in mean):
                    log.write({"kind": "error", "step": step, "error": "non-finite loss"})
                    raise RuntimeError(f"loss became non-finite by step {step}; resume from "
                                       f"the last checkpoint with a lower --lr")
                tm = timer.summary()
                rec = {"kind": "train", "step": step, "loss": mean[0],
                       **dict(zip(TERMS, mean[1:-1], strict=True)), "grad_norm": mean[-1],
                       "lr": sched.get_last_lr()[0],
                       "samples_per_s": acc_n * cfg.batch / max(tm["wall_s"], 1e-9),
                       "data_ms": tm["data_ms"], "render_ms": tm["render_ms"],
                       "train_ms": tm["train_ms"], "elapsed_s": time.monotonic() - t_start,
                       "samples_seen": samples_seen, "device": dev_name, "world": d.world}
                log.write(rec)
                if d.main:
                    logger.info(
                        "step %d/%d loss %s (%s) lr %.2e | %.0f samp/s, data %.0f render %.0f "
                        "train %.0f ms/step | %.0f s", step, cfg.steps, _fmt(rec["loss"]),
                        " ".join(f"{k} {_fmt(rec[k])}" for k in TERMS), rec["lr"],
                        rec["samples_per_s"], rec["data_ms"], rec["render_ms"],
                        rec["train_ms"], rec["elapsed_s"])
                acc.zero_()
                acc_n = 0
                timer.reset()

            if val is not None and cfg.val_every and (step % cfg.val_every == 0
                                                      or step == cfg.steps):
                last_val = evaluate(ckpt.unwrap(model), val, chunk=per_rank, weights=weights)
                log.write({"kind": "val", "step": step, **last_val,
                           "elapsed_s": time.monotonic() - t_start})
                logger.info("val step %d: loss %s, mask IoU %.3f, front MAE %.4f, back MAE "
                            "%.4f", step, _fmt(last_val["loss"]), last_val["mask_iou"],
                            last_val["front_mae"], last_val["back_mae"])
                timer.reset()

            if cfg.ckpt_every and step % cfg.ckpt_every == 0 and step < cfg.steps:
                slowest_save = max(slowest_save, save(False, last_val))
                timer.reset()

    slowest_save = max(slowest_save, save(step >= cfg.steps, last_val))
    elapsed = time.monotonic() - t_start
    log.write({"kind": "stop", "step": step, "samples_seen": samples_seen, "reason": reason,
               "elapsed_s": elapsed, "save_s": slowest_save})
    logger.info("stopped at step %d/%d (%s) after %.0f s; checkpoint in %s", step, cfg.steps,
                reason, elapsed, out)
    del it, loader
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(step=step, samples_seen=samples_seen, reason=reason, elapsed_s=elapsed,
                       val=last_val, out=out, model=model)
