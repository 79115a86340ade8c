"""The golden exactness check of the surgery, one helper for every test."""

from __future__ import annotations

import numpy as np

from lstmprune_cli.framework.surgery import masked_model, prune_model


def random_kept(groups, seed: int = 0, share: float = 0.5) -> dict[str, np.ndarray]:
    """A random kept set per prunable group: tied groups share the count (and the indices when merged)."""
    rng = np.random.default_rng(seed)
    kept, counts, same = {}, {}, {}
    for g in groups:
        if not g.prunable:
            continue
        count = counts.setdefault(g.tie, max(1, int(round(share * g.units))))
        key = g.same_as or g.name
        if key not in same:
            same[key] = np.sort(rng.choice(g.units, count, replace=False))
        kept[g.name] = same[key]
    return kept


def assert_pruned_equals_masked(model, kept: dict[str, np.ndarray], x: np.ndarray, atol: float = 1e-5, pruned=None):
    """The pruned model's output equals the original with the same units masked, max |diff| <= atol."""
    pruned = pruned if pruned is not None else prune_model(model, kept)
    masked = masked_model(model, kept)
    got, want = pruned(x, training=False), masked(x, training=False)
    got = got if isinstance(got, (list, tuple)) else [got]
    want = want if isinstance(want, (list, tuple)) else [want]
    for a, b in zip(got, want):
        diff = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        assert diff <= atol, f"pruned differs from masked original by {diff}"
    assert pruned.count_params() <= model.count_params()
    return pruned
