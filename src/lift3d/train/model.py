"""The shape network: a compact U-Net from an object crop to layered depth.

Input and output follow :mod:`lift3d.shape.netio`: ``(N, 3, S, S)`` sRGB in ``[0, 1]``
in, ``(N, netio.OUT_CHANNELS, S, S)`` raw maps out, for any ``S`` divisible by
:data:`SIZE_MULTIPLE`. Every op exports to plain ONNX (convolutions, GroupNorm, SiLU,
nearest resize, MatMul/Softmax attention) so the ``learned`` backend runs it with ONNX
Runtime on a CPU.

Layout (``w`` = ``width``, default channels at 128 px input)::

    stem 3x3 at full resolution
    encoder  level i:   ResBlock x blocks[i] at channels[i], then stride-2 conv
    bottleneck:         ResBlock (dilation 2) -> self-attention -> ResBlock (dilation 2)
    decoder  level i:   3x3 conv, nearest x2, concat skip, ResBlock x blocks[i]
    head 1x1 -> OUT_CHANNELS

The bottleneck sees the whole object (attention over every cell of the coarsest grid),
which a depth network needs: the back of an object is inferred from its whole outline,
not from a local patch.

Depth ordering is built in: the head predicts the front depth and three non-negative
gaps (softplus), so ``front <= back <= front2 <= back2`` holds by construction, as
:func:`lift3d.shape.netio.decode` expects. Predicting thickness rather than the back's
absolute depth is also the easier target: it varies smoothly over an object.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..shape import netio

__all__ = ["SIZE_MULTIPLE", "ShapeNet", "count_parameters"]

#: Input sides must be a multiple of this (four stride-2 steps plus margin for the
#: attention grid to stay at least 2 x 2 at the smallest supported input of 32 px).
SIZE_MULTIPLE: int = 32

# The ordered-depth head relies on this channel layout.
assert (netio.CH_FRONT, netio.CH_BACK, netio.CH_LAYER2, netio.CH_FRONT2, netio.CH_BACK2) == (
    1, 2, 3, 4, 5), "ShapeNet's head assumes netio's depth channels 1-5"

# ImageNet statistics: a common, harmless choice of input normalisation.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def _groups(channels: int) -> int:
    """GroupNorm groups: at most 32, at least 4 channels a group, dividing ``channels``."""
    g = max(1, min(32, channels // 4))
    while channels % g:
        g -= 1
    return g


class ResBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(act(norm(conv(act(norm(x))))))``.

    The second convolution starts at zero so every block is the identity at
    initialisation; deep U-Nets then train stably at a high learning rate.
    """

    def __init__(self, cin: int, cout: int, dilation: int = 1) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=dilation, dilation=dilation)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the cells of a feature map, residual.

    Written with matmul and softmax (no fused attention op) so the legacy ONNX
    exporter and ONNX Runtime's CPU kernels handle it at opset 17.
    """

    def __init__(self, channels: int, head_dim: int = 64) -> None:
        super().__init__()
        self.heads = max(1, channels // head_dim)
        if channels % self.heads:
            self.heads = 1
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        d = c // self.heads
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.heads, d, h * w)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]  # (n, heads, d, hw)
        att = torch.matmul(q.transpose(-1, -2), k) * (1.0 / math.sqrt(d))  # (n, heads, hw, hw)
        att = torch.softmax(att.float(), dim=-1).to(v.dtype)
        y = torch.matmul(v, att.transpose(-1, -2))  # (n, heads, d, hw)
        return x + self.proj(y.reshape(n, c, h, w))


class ShapeNet(nn.Module):
    """U-Net from an object crop to the raw layered-depth maps of :mod:`~lift3d.shape.netio`.

    Args:
        width: base channel count; level ``i`` has ``width * mults[i]`` channels.
        mults: channel multiplier of each level, finest first; ``len(mults) - 1``
            stride-2 steps, so inputs must be divisible by ``2 ** (len(mults) - 1)``
            (and, by contract, by :data:`SIZE_MULTIPLE`).
        blocks: residual blocks per level in the encoder and in the decoder.
        out_channels: output channels (:data:`netio.OUT_CHANNELS`).

    Forward:
        image ``(N, 3, S, S)`` float, sRGB in ``[0, 1]`` -> ``(N, out_channels, S, S)``
        float32 raw maps (logits and normalised depths, depths already ordered;
        decode with :func:`lift3d.shape.netio.decode`).
    """

    def __init__(
        self,
        width: int = 32,
        mults: Sequence[int] = (1, 2, 3, 4, 4),
        blocks: Sequence[int] = (2, 2, 2, 2, 2),
        out_channels: int = netio.OUT_CHANNELS,
    ) -> None:
        super().__init__()
        if width < 4 or width % 4:
            raise ValueError(f"width must be a positive multiple of 4, got {width}")
        if len(mults) != len(blocks) or len(mults) < 2:
            raise ValueError(f"mults and blocks must have one entry per level (>= 2), "
                             f"got {tuple(mults)} and {tuple(blocks)}")
        self.config = {"width": int(width), "mults": [int(m) for m in mults],
                       "blocks": [int(b) for b in blocks], "out_channels": int(out_channels)}
        ch = [width * m for m in mults]
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.stem = nn.Conv2d(3, ch[0], 3, padding=1)

        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        for i, c in enumerate(ch):
            self.enc.append(nn.Sequential(*[ResBlock(c, c) for _ in range(blocks[i])]))
            if i + 1 < len(ch):
                self.down.append(nn.Conv2d(c, ch[i + 1], 3, stride=2, padding=1))

        cb = ch[-1]
        self.mid = nn.Sequential(ResBlock(cb, cb, dilation=2), Attention(cb),
                                 ResBlock(cb, cb, dilation=2))

        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(len(ch) - 2, -1, -1):
            self.up.append(nn.Conv2d(ch[i + 1], ch[i], 3, padding=1))
            layers = [ResBlock(2 * ch[i], ch[i])]
            layers += [ResBlock(ch[i], ch[i]) for _ in range(blocks[i] - 1)]
            self.dec.append(nn.Sequential(*layers))

        self.head_norm = nn.GroupNorm(_groups(ch[0]), ch[0])
        self.head = nn.Conv2d(ch[0], out_channels, 3, padding=1)
        # Small outputs at start: depths near the reference plane, probabilities 0.5.
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.zeros_(self.head.bias)
        self.levels = len(ch)

    @property
    def size_multiple(self) -> int:
        """Input sides must be divisible by this."""
        return max(SIZE_MULTIPLE, 2 ** (self.levels - 1))

    def forward(self, image: Tensor) -> Tensor:
        m = 2 ** (self.levels - 1)
        if image.ndim != 4 or image.shape[1] != 3 or image.shape[2] % m or image.shape[3] % m:
            raise ValueError(f"image: expected (N, 3, H, W) with H, W divisible by {m}, "
                             f"got {tuple(image.shape)}")
        x = (image - self.mean) / self.std
        x = self.stem(x)
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x)
            if i + 1 < self.levels:
                skips.append(x)
                x = self.down[i](x)
        x = self.mid(x)
        for up, dec in zip(self.up, self.dec, strict=True):
            # Convolve at the coarse resolution (4x cheaper), then upsample.
            x = F.interpolate(up(x), scale_factor=2.0, mode="nearest")
            x = dec(torch.cat([x, skips.pop()], dim=1))
        return _ordered_depths(self.head(F.silu(self.head_norm(x))).float())


def _ordered_depths(raw: Tensor) -> Tensor:
    """Turn raw channels 2, 4, 5 into gaps: back = front + softplus, and so on."""
    front = raw[:, 1:2]
    back = front + F.softplus(raw[:, 2:3])
    front2 = back + F.softplus(raw[:, 4:5])
    back2 = front2 + F.softplus(raw[:, 5:6])
    return torch.cat([raw[:, 0:1], front, back, raw[:, 3:4], front2, back2, raw[:, 6:]], dim=1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
