"""Task metrics in numpy: GAP@k (YouTube-8M), mean average precision, top-k accuracy, perplexity."""

from __future__ import annotations

import numpy as np


def gap(scores: np.ndarray, labels: np.ndarray, top_k: int = 20) -> float:
    """Global average precision at k, as YouTube-8M defines it.

    Each example's top-k (score, label) pairs are pooled over all examples and sorted by score;
    the average precision is taken over the total number of true labels.
    scores, labels: (N, C); labels are 0/1.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    k = min(top_k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (N, k)
    s = np.take_along_axis(scores, top, axis=1).ravel()  # (N k,)
    hit = np.take_along_axis(labels, top, axis=1).ravel().astype(np.float64)  # (N k,)
    positives = float(labels.sum())
    if positives == 0:
        return 0.0
    order = np.argsort(-s, kind="stable")
    hit = hit[order]
    precision = np.cumsum(hit) / np.arange(1, len(hit) + 1)
    return float((precision * hit).sum() / positives)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision of one class: mean of the precision at each true example's rank."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    hit = np.asarray(labels)[order].astype(np.float64)
    if hit.sum() == 0:
        return float("nan")
    precision = np.cumsum(hit) / np.arange(1, len(hit) + 1)
    return float((precision * hit).sum() / hit.sum())


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes that have at least one true example, (N, C) inputs."""
    aps = [average_precision(scores[:, c], labels[:, c]) for c in range(scores.shape[1])]
    aps = [a for a in aps if not np.isnan(a)]
    return float(np.mean(aps)) if aps else 0.0


def top_k_accuracy(scores: np.ndarray, targets: np.ndarray, k: int = 1) -> float:
    """Share of examples whose target class (N,) is among the k highest scores (N, C)."""
    top = np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == np.asarray(targets)[:, None], axis=1)))


def regression(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """MSE, MAE and R² (1 - residual / total sum of squares, over every output) of predictions against targets."""
    p, y = np.asarray(predictions, np.float64).reshape(len(predictions), -1), np.asarray(targets, np.float64)
    y = y.reshape(len(y), -1)
    residual = float(np.sum((p - y) ** 2))
    total = float(np.sum((y - y.mean(axis=0)) ** 2))
    r2 = 1.0 - residual / total if total > 0 else float("nan")
    return {"mse": residual / y.size, "mae": float(np.mean(np.abs(p - y))), "r2": r2}


def perplexity(nll_sum: float, tokens: int) -> float:
    """exp of the mean negative log-likelihood per token."""
    return float(np.exp(nll_sum / tokens)) if tokens else float("nan")


LOWER_IS_BETTER = ("perplexity", "loss", "mse", "mae")


def drop(name: str, before: float, after: float) -> float:
    """How much worse metric `name` is `after` than `before`: in points (x100) for a share such as GAP@20,
    accuracy or R²; in percent of `before` for a metric where lower is better (perplexity, a loss)."""
    if name in LOWER_IS_BETTER:
        return 100.0 * (after / before - 1.0)
    return 100.0 * (before - after)


def mean_kl(p: np.ndarray, q: np.ndarray, floor: float = 1e-12) -> float:
    """Mean KL(p || q) in nats over the rows of two (N, K) probability arrays; q is floored, so a zero where p is
    not costs about 28 nats times p, not infinity."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)  # (N, K)
    q = np.clip(np.asarray(q, dtype=np.float64), floor, 1.0)  # (N, K)
    terms = np.where(p > 0, p * (np.log(np.maximum(p, floor)) - np.log(q)), 0.0)
    return float(np.mean(np.sum(terms, axis=-1)))
