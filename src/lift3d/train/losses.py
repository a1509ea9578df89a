"""Training loss of the shape network against a rendered :class:`SynthBatch`.

Output channels and targets line up as :mod:`lift3d.shape.netio` defines. Every term is
a masked mean, so it is independent of how much of the crop the object covers:

* ``mask``: BCE-with-logits of ``CH_MASK`` against the pixel coverage (soft target).
* ``front``/``back``: L1 of the normalised depths inside the object (coverage > 0.5).
* ``grad``: L1 between the depth slopes (finite differences in x and y over 2, 4 and
  8 pixels, divided by their length in normalised units) of predicted and true front
  and back depth, over pixel pairs both inside the object: keeps creases and depth
  edges sharp where plain L1 smooths them, and is scale-free in the crop size.
* ``layer2``: BCE-with-logits of ``CH_LAYER2`` against the second-layer flag, inside.
* ``depth2``: L1 of the second entry/exit depths where the second layer exists.
* ``normal``: ``1 - cos`` between the predicted and true normal, inside.
* ``back_rgb``: L1 of ``sigmoid(CH_BACK_RGB)`` against the back colour, inside.

All arithmetic runs in float32 even under autocast.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor
from torch.nn import functional as F

from ..shape import netio
from ..synth.types import SynthBatch

__all__ = ["GRAD_STRIDES", "TERMS", "LossParts", "LossWeights", "shape_loss", "shape_loss_terms"]

#: Names of the loss terms, in the order of :func:`shape_loss_terms`' vector.
TERMS: tuple[str, ...] = ("mask", "front", "back", "grad", "layer2", "depth2", "normal",
                          "back_rgb")

_EPS = 1e-6


@dataclass(frozen=True)
class LossWeights:
    """Weight of each term in the total (see the module docstring).

    The defaults put every term at a similar scale early in training (BCE ~0.7,
    depth L1 ~0.2-0.5 in normalised units, slopes ~1, ``1 - cos`` ~0.5) with depth
    dominant, since depth is what the mesh is built from.
    """

    mask: float = 1.0
    front: float = 2.0
    back: float = 2.0
    grad: float = 0.5
    layer2: float = 0.25
    depth2: float = 0.5
    normal: float = 0.5
    back_rgb: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (v >= 0):
                raise ValueError(f"LossWeights.{f.name} must be >= 0, got {v}")

    def vector(self, device=None) -> Tensor:
        """The weights as a ``(len(TERMS),)`` float32 tensor in :data:`TERMS` order."""
        return torch.tensor([getattr(self, t) for t in TERMS], dtype=torch.float32,
                            device=device)


@dataclass(frozen=True)
class LossParts:
    """Detached per-term losses (unweighted) and the weighted total, as floats."""

    total: float
    mask: float
    front: float
    back: float
    grad: float
    layer2: float
    depth2: float
    normal: float
    back_rgb: float

    @classmethod
    def from_tensor(cls, total: Tensor | float, terms: Tensor) -> LossParts:
        """Build from the weighted total and the ``(len(TERMS),)`` unweighted terms."""
        vals = terms.detach().float().cpu().tolist()
        tot = float(total.detach().float().cpu()) if isinstance(total, Tensor) else float(total)
        return cls(total=tot, **dict(zip(TERMS, vals, strict=True)))

    def as_dict(self) -> dict[str, float]:
        """``{name: value}`` of every field."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _masked_mean(x: Tensor, m: Tensor) -> Tensor:
    """Mean of ``x`` over the pixels where ``m`` (broadcastable, {0, 1}) is set; 0 if none."""
    m = m.expand_as(x)
    return (x * m).sum() / m.sum().clamp_min(1.0)


#: Pixel strides of the slope-matching term.
GRAD_STRIDES: tuple[int, ...] = (2, 4, 8)


def _grad_term(pred: Tensor, true: Tensor, inside: Tensor) -> Tensor:
    """Mean over strides of the L1 slope error over pixel pairs both inside.

    Slopes are depth differences over ``k`` pixels divided by ``2k / S`` (the pairs'
    distance in normalised units), so the term does not depend on the crop size.
    """
    size = pred.shape[-1]
    terms = []
    for k in GRAD_STRIDES:
        if k >= min(pred.shape[-2:]):
            continue
        dxp, dxt = pred[..., :, k:] - pred[..., :, :-k], true[..., :, k:] - true[..., :, :-k]
        dyp, dyt = pred[..., k:, :] - pred[..., :-k, :], true[..., k:, :] - true[..., :-k, :]
        mx = inside[..., :, k:] * inside[..., :, :-k]
        my = inside[..., k:, :] * inside[..., :-k, :]
        num = ((dxp - dxt).abs() * mx).sum() + ((dyp - dyt).abs() * my).sum()
        den = (mx.expand_as(dxp).sum() + my.expand_as(dyp).sum()).clamp_min(1.0)
        terms.append(num / den * (size / (2.0 * k)))
    return torch.stack(terms).mean() if terms else pred.sum() * 0.0


def _check(out: Tensor, batch: SynthBatch) -> None:
    if out.ndim != 4 or out.shape[1] != netio.OUT_CHANNELS:
        raise ValueError(f"out: expected (B, {netio.OUT_CHANNELS}, S, S), got {tuple(out.shape)}")
    want = (out.shape[0], 1, *out.shape[2:])
    if tuple(batch.mask.shape) != want:
        raise ValueError(f"batch.mask: expected {want} to match out, got "
                         f"{tuple(batch.mask.shape)}")


def shape_loss_terms(
    out: Tensor, batch: SynthBatch, weights: LossWeights | None = None
) -> tuple[Tensor, Tensor]:
    """The loss without any host synchronisation (for the training loop).

    Args:
        out: ``(B, netio.OUT_CHANNELS, S, S)`` raw network output (any float dtype).
        batch: the targets, same ``B`` and ``S``, on the same device.
        weights: term weights; :class:`LossWeights` defaults when omitted.

    Returns:
        ``(total, terms)``: the weighted scalar loss (float32, differentiable) and the
        detached ``(len(TERMS),)`` float32 vector of unweighted terms.
    """
    _check(out, batch)
    w = weights or LossWeights()
    out = out.float()
    cover = batch.mask.float()
    inside = (cover > 0.5).float()
    depth = batch.depth.float()
    l2 = batch.layer2.float()
    in2 = inside * (l2 > 0.5).float()

    mask = F.binary_cross_entropy_with_logits(out[:, netio.CH_MASK:netio.CH_MASK + 1], cover)
    pf, pb = out[:, netio.CH_FRONT:netio.CH_FRONT + 1], out[:, netio.CH_BACK:netio.CH_BACK + 1]
    tf, tb = depth[:, 0:1], depth[:, 1:2]
    front = _masked_mean((pf - tf).abs(), inside)
    back = _masked_mean((pb - tb).abs(), inside)
    grad = 0.5 * (_grad_term(pf, tf, inside) + _grad_term(pb, tb, inside))
    layer2 = _masked_mean(F.binary_cross_entropy_with_logits(
        out[:, netio.CH_LAYER2:netio.CH_LAYER2 + 1], l2, reduction="none"), inside)
    p2 = torch.cat([out[:, netio.CH_FRONT2:netio.CH_FRONT2 + 1],
                    out[:, netio.CH_BACK2:netio.CH_BACK2 + 1]], dim=1)
    depth2 = _masked_mean((p2 - depth[:, 2:4]).abs(), in2)
    cos = F.cosine_similarity(out[:, netio.CH_NORMAL], batch.normals.float(), dim=1, eps=_EPS)
    normal = _masked_mean((1.0 - cos).unsqueeze(1), inside)
    back_rgb = _masked_mean((torch.sigmoid(out[:, netio.CH_BACK_RGB])
                             - batch.back_rgb.float()).abs(), inside)

    terms = torch.stack([mask, front, back, grad, layer2, depth2, normal, back_rgb])
    total = (terms * w.vector(out.device)).sum()
    return total, terms.detach()


def shape_loss(
    out: Tensor, batch: SynthBatch, weights: LossWeights | None = None
) -> tuple[Tensor, LossParts]:
    """The training loss of ``out`` against ``batch`` and its parts as floats.

    Args:
        out: ``(B, netio.OUT_CHANNELS, S, S)`` raw network output.
        batch: rendered targets of the same size, same device.
        weights: term weights; :class:`LossWeights` defaults when omitted.

    Returns:
        ``(total, parts)``: the weighted scalar float32 loss (differentiable) and a
        :class:`LossParts` of detached floats (this synchronises with the device; the
        training loop uses :func:`shape_loss_terms` to avoid that every step).
    """
    total, terms = shape_loss_terms(out, batch, weights)
    return total, LossParts.from_tensor(total, terms)
