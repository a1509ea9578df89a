"""``python -m lift3d.train``: train the shape network, or export it to ONNX.

    python -m lift3d.train [train] --out DIR [--steps N] [--batch 64] [--size 128]
        [--lr 2e-3] [--width 32] [--time-budget SECONDS] [--ckpt-every 500]
        [--val-every 250] [--workers 12] [--seed 0] [--assets PATH] [--device auto]
        [--resume | --no-resume]
    python -m lift3d.train export --ckpt DIR --out PATH.onnx

Under ``torchrun --nproc-per-node K`` the same command trains on K processes (DDP).
Exit codes: 0 done or stopped cleanly (time budget / SIGTERM, checkpoint written);
1 internal error (non-finite loss, ...); 2 bad options or checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import Lift3DError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .loop import TrainConfig

    d = TrainConfig(out="")
    p = _Parser(prog="python -m lift3d.train", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train (or resume training) the shape network")
    t.add_argument("--out", required=True, help="run directory (checkpoints, log.jsonl)")
    t.add_argument("--steps", type=int, default=d.steps, help="total steps (LR schedule length)")
    t.add_argument("--batch", type=int, default=d.batch, help="global batch size")
    t.add_argument("--size", type=int, default=d.size, help="crop side, multiple of 32")
    t.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--warmup", type=int, default=d.warmup,
                   help="warm-up steps (0: 5%% of --steps, at most 1000)")
    t.add_argument("--width", type=int, default=d.width, help="network base width")
    t.add_argument("--time-budget", type=float, default=d.time_budget,
                   help="stop and checkpoint before this many seconds (0: no limit)")
    t.add_argument("--save-margin", type=float, default=d.save_margin,
                   help="seconds kept free for the final checkpoint")
    t.add_argument("--stop-at", type=int, default=d.stop_at,
                   help="stop this call at this step (schedule unchanged; 0: at --steps)")
    t.add_argument("--schedule-start", type=int, default=d.schedule_start,
                   help="step where the LR schedule starts: train on from a finished "
                        "checkpoint with a fresh warm-up and cosine (warm restart)")
    t.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    t.add_argument("--val-every", type=int, default=d.val_every)
    t.add_argument("--val-size", type=int, default=d.val_size)
    t.add_argument("--log-every", type=int, default=d.log_every)
    t.add_argument("--workers", type=int, default=d.workers, help="DataLoader workers")
    t.add_argument("--prefetch", type=int, default=d.prefetch,
                   help="batches of scenes each worker keeps ready")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--assets", default=d.assets,
                   help="synthetic-data assets: auto (default file, or prepared from the "
                        "shared data), none, or an .npz from python -m lift3d.synth.assets")
    t.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    t.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                   help="continue from OUT/last.json (default: when it exists)")
    t.add_argument("--ssaa", type=int, default=d.ssaa, help="renderer supersampling")
    t.add_argument("--clip", type=float, default=d.clip, help="gradient-norm clip")
    t.add_argument("--no-augment", dest="augment", action="store_false")
    t.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    t.add_argument("--channels-last", action="store_true",
                   help="NHWC memory format on CUDA (slower for this network on H200)")
    t.add_argument("--echo", type=int, default=d.echo,
                   help="optimizer steps per rendered batch, each differently augmented "
                        "(data echoing; >1 when rendering is the bottleneck)")
    t.add_argument("-v", "--verbose", action="store_true")

    e = sub.add_parser("export", help="export a checkpoint to ONNX")
    e.add_argument("--ckpt", required=True, help="run directory (model.json or last.json)")
    e.add_argument("--out", required=True, help="output .onnx file")
    e.add_argument("--size", type=int, default=d.size)
    e.add_argument("--no-verify", dest="verify", action="store_false")
    e.add_argument("-v", "--verbose", action="store_true")
    return p


def _setup_logging(verbose: bool) -> None:
    rank = os.environ.get("RANK", "0")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s" if rank == "0"
                                           else f"[rank {rank}] %(message)s"))
    root = logging.getLogger("lift3d")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO if rank == "0" else logging.WARNING)
    root.propagate = False
    # The scene sampler reports every imperfect object placement; a training run
    # draws millions of scenes, so only its errors belong on the console.
    if not verbose:
        logging.getLogger("lift3d.synth").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("train", "export", "-h", "--help"):
        argv.insert(0, "train")
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    log = logging.getLogger("lift3d.train")
    try:
        if args.command == "export":
            from .export import export_checkpoint

            rep = export_checkpoint(args.ckpt, args.out, size=args.size, verify=args.verify)
            log.info("wrote %s: %.1f MB, max |onnxruntime - torch| = %.2g", rep.path,
                     rep.bytes / 1e6, rep.max_abs_diff)
            return EXIT_OK
        from .loop import TrainConfig, train

        fields = {k: v for k, v in vars(args).items() if k not in ("command", "verbose")}
        result = train(TrainConfig(**fields))
        log.info("step %d/%d reached (%s)", result.step, args.steps, result.reason)
        return EXIT_OK
    except Lift3DError as exc:
        log.error("error: %s", exc)
        return exc.exit_code
    finally:
        _shutdown_dist()


def _shutdown_dist() -> None:
    try:
        import torch.distributed as dist
    except ImportError:
        return
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
