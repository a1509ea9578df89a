"""Benchmark the shape network's size and ONNX Runtime CPU speed.

Exports a randomly initialised :class:`lift3d.train.model.ShapeNet` to ONNX and times
onnxruntime on one ``128 x 128`` crop with a fixed thread count (2, the target laptop
budget). Prints parameters, fp32 MB, ONNX MB and the median / min milliseconds.

    .venv/bin/python bench/bench_net.py [--width 32] [--threads 2] [--runs 30] [--onnx FILE]

With ``--onnx FILE`` it times an existing model instead of a random one. With
``--train`` it instead times training steps (forward, loss, backward, AdamW) on random
data on the best device (bf16 autocast and channels_last on CUDA), as the training loop
runs them, and prints samples per second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=None,
                    help="base width (default: ShapeNet's default)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--onnx", type=Path, default=None, help="time this file instead")
    ap.add_argument("--torch", action="store_true", help="also time torch CPU eager (fp32)")
    ap.add_argument("--train", action="store_true",
                    help="time training steps on the best device instead")
    ap.add_argument("--batch", type=int, default=64, help="batch for --train")
    args = ap.parse_args(argv)
    if args.train:
        return bench_train(args)

    import numpy as np
    import onnxruntime as ort

    from lift3d.shape import netio

    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx
        if path is None:
            import torch

            from lift3d.train.export import export_onnx
            from lift3d.train.model import ShapeNet, count_parameters

            torch.manual_seed(0)
            model = ShapeNet() if args.width is None else ShapeNet(width=args.width)
            # Random-init residual branches start at zero; perturb them so the timed graph
            # is not special (ORT does not skip zeros, but be safe and realistic).
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 0.01)
            n = count_parameters(model)
            print(f"config      {model.config}")
            print(f"params      {n:,} ({n * 4 / 1e6:.1f} MB fp32)")
            path = Path(tmp) / "net.onnx"
            rep = export_onnx(model, path, size=args.size)
            print(f"onnx        {rep.bytes / 1e6:.1f} MB, {rep.exporter}, "
                  f"max |ort - torch| {rep.max_abs_diff:.2e}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
        feed = {netio.INPUT_NAME: x}
        # ORT's first runs allocate arenas and spin up threads; keep them out.
        for _ in range(10):
            sess.run(None, feed)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            sess.run(None, feed)
            times.append(time.perf_counter() - t)
        print(f"onnxruntime {args.threads} threads, {args.size}x{args.size}: "
              f"median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms "
              f"({args.runs} runs)")
        if args.torch and args.onnx is None:
            torch.set_num_threads(args.threads)
            xt = torch.from_numpy(x)
            model.eval()
            with torch.no_grad():
                for _ in range(2):
                    model(xt)
                tt = []
                for _ in range(max(5, args.runs // 3)):
                    t = time.perf_counter()
                    model(xt)
                    tt.append(time.perf_counter() - t)
            ms = statistics.median(tt) * 1e3
            print(f"torch eager {args.threads} threads: median {ms:.1f} ms")
    return 0


def bench_train(args) -> int:
    """Time training steps of a random model on random targets (no data pipeline)."""
    import torch

    from lift3d.shape import netio
    from lift3d.synth.types import SynthBatch
    from lift3d.train.losses import shape_loss_terms
    from lift3d.train.model import ShapeNet, count_parameters

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    b, s = args.batch, args.size
    g = torch.Generator(device=dev).manual_seed(0)

    def r(*shape):
        return torch.rand(*shape, generator=g, device=dev)

    batch = SynthBatch(image=r(b, 3, s, s), mask=(r(b, 1, s, s) > 0.5).float(),
                       depth=r(b, 4, s, s), layer2=(r(b, 1, s, s) > 0.9).float(),
                       normals=r(b, 3, s, s) - 0.5, back_rgb=r(b, 3, s, s), z_ref=r(b),
                       scale=r(b), fov=r(b))
    modes = [("fp32", False, False)] if not cuda else [
        ("bf16 channels_last", True, True), ("bf16", True, False)]
    for label, bf16, cl in modes:
        torch.manual_seed(0)
        net = ShapeNet() if args.width is None else ShapeNet(width=args.width)
        net.to(dev)
        if cl:
            net.to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, fused=cuda)
        img = batch.image.contiguous(memory_format=torch.channels_last) if cl else batch.image

        def step(net=net, opt=opt, img=img, bf16=bf16):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                out = net(img)
            loss, _ = shape_loss_terms(out, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()

        n_warm, n = (5, 30) if cuda else (1, 3)
        for _ in range(n_warm):
            step()
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(n):
            step()
        if cuda:
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t) / n
        mem = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
        print(f"train {label:20s} {dev.type}: params {count_parameters(net):,}, batch {b} x "
              f"{s}px: {dt * 1e3:.1f} ms/step, {b / dt:.0f} samples/s, peak {mem:.1f} GiB "
              f"({netio.OUT_CHANNELS} out channels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
