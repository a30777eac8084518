"""Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

Both take class scores (N, C, d1, ..., dk) and integer targets (N, d1, ..., dk); targets equal
to ``ignore_index`` contribute 0 loss and 0 weight. Float16/bfloat16 compute in float32.
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _compute_dtype(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def _nll(log_probs, target, weight, ignore_index, reduction):
    """-log_probs[n, target[n, ...], ...] * weight[target], reduced as asked (float result)."""
    target = np.asarray(target, dtype=np.int64)
    classes = log_probs.shape[1]
    keep = np.ones(target.shape, dtype=bool) if ignore_index is None else target != ignore_index
    safe = np.where(keep, target, 0)                        # ignored labels may be out of range
    picked = np.take_along_axis(log_probs, np.expand_dims(safe, 1), axis=1).squeeze(1)
    w = np.ones(classes, dtype=log_probs.dtype) if weight is None \
        else weight.astype(log_probs.dtype)
    w = np.where(keep, w[safe], 0)
    loss = -picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()                             # "mean": weighted mean


@kernel("NegativeLogLikelihoodLoss", since=12)
@kernel("NegativeLogLikelihoodLoss", since=13)
@kernel("NegativeLogLikelihoodLoss", since=22)
def negative_log_likelihood_loss(x, target, weight=None, *, ignore_index=None,
                                 reduction="mean"):
    """loss = -input[n, target, ...] * weight[target], reduced by none, sum or weighted mean."""
    dtype = x.dtype
    loss = _nll(x.astype(_compute_dtype(dtype)), target, weight, ignore_index, reduction)
    return np.asarray(loss, dtype=dtype)


@kernel("SoftmaxCrossEntropyLoss", since=12)
@kernel("SoftmaxCrossEntropyLoss", since=13)
def softmax_cross_entropy_loss(scores, labels, weights=None, *, ignore_index=None,
                               reduction="mean"):
    """NLL loss of log-softmax(scores) over the class axis; also returns the log-probabilities."""
    dtype = scores.dtype
    s = scores.astype(_compute_dtype(dtype))
    shifted = s - s.max(axis=1, keepdims=True)
    log_prob = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = _nll(log_prob, labels, weights, ignore_index, reduction)
    return np.asarray(loss, dtype=dtype), log_prob.astype(dtype)
