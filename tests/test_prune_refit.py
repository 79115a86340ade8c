"""compensate="refit": each consumer refitted on the pruned model's own inputs (golden and property tests)."""

import numpy as np
import pytest
from golden import F, T, analyzed, build, sample_x
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def plan_for(model, kept: dict, compensate: str = "refit"):
    """A plan that keeps `kept` (group -> indices), every other group whole."""
    from lstmprune_cli.core.plan import GroupPlan, Plan
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.surgery.groups import model_groups

    groups = [
        GroupPlan(g.name, g.layer, g.direction, g.cell, g.units, [int(i) for i in kept.get(g.name, range(g.units))])
        for g in model_groups(model)
    ]
    return Plan(models.fingerprint(model), groups, extra={"compensate": compensate})


def with_copies(model, layer_name: str, copies: dict[int, int]):
    """Make unit j of an LSTM an exact copy of unit i ({j: i}): same columns in every gate, no feedback."""
    layer = model.get_layer(layer_name)
    kernel, recurrent, bias = layer.get_weights()
    units = recurrent.shape[0]
    for j, i in copies.items():
        for g in range(4):
            kernel[:, g * units + j] = kernel[:, g * units + i]
            recurrent[:, g * units + j] = recurrent[:, g * units + i]
            bias[g * units + j] = bias[g * units + i]
        recurrent[j] = 0.0  # the copy feeds no unit, so removing it changes no kept trajectory
    for j in copies:
        for i in copies.values():
            recurrent[j, [g * units + i for g in range(4)]] = 0.0
    layer.set_weights([kernel, recurrent, bias])


def test_removed_copies_are_recovered_exactly_by_the_refit(tf):
    """Removed units that are exact linear functions of kept ones: the refitted model is the original."""
    import keras

    from lstmprune_cli.framework.prune.planner import cut
    from lstmprune_cli.framework.prune.refit import refit

    keras.utils.set_random_seed(0)
    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(6, return_sequences=True, name="low")(inputs)
    x = keras.layers.LSTM(5, name="high")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid", name="head")(x))
    with_copies(model, "low", {4: 0, 5: 1})
    with_copies(model, "high", {4: 2})
    xs = np.concatenate([sample_x(s, pad=False) for s in range(20)])  # (120, T, F)
    plan = plan_for(model, {"low": np.arange(4), "high": np.arange(4)})
    pruned = cut(model, plan)
    mean_gap = float(np.max(np.abs(np.asarray(pruned(xs)) - np.asarray(model(xs)))))
    report = refit(model, pruned, plan, lambda: [xs[:60], xs[60:]], damping=0.0, recurrent=False)
    assert [c.layer for c in report.consumers] == ["high", "head"] and report.passes == 2
    gap = float(np.max(np.abs(np.asarray(pruned(xs)) - np.asarray(model(xs)))))
    assert gap <= 1e-5 < mean_gap, (gap, mean_gap)

    gaps = []  # a recurrent layer's own refit reads states that move with each fit: rounds converge to it
    for rounds in (1, 3):
        again = cut(model, plan)
        refit(model, again, plan, lambda: [xs[:60], xs[60:]], damping=0.0, rounds=rounds)
        gaps.append(float(np.max(np.abs(np.asarray(again(xs)) - np.asarray(model(xs))))))
    assert gaps[1] < gaps[0] / 10 and gaps[1] <= 1e-4, gaps


@given(
    st.sampled_from(["single", "stacked", "bidirectional"]),
    st.sampled_from(["LSTM", "GRU", "RNN-LSTM"]),
    st.booleans(),
    st.integers(0, 100),
)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_refit_never_reconstructs_a_consumer_worse_than_the_means(tf, arch, cell, sequences, seed):
    import keras

    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework.prune.planner import Planner, cut
    from lstmprune_cli.framework.prune.refit import data_input, input_kernels, kernel_bias, refit

    keras.utils.set_random_seed(seed)
    model = build(arch, "concat", sequences, True, cell)
    xs = np.concatenate([sample_x(s) for s in range(6)])
    spec = PlanSpec.paper(0.5, criterion="random", seed=seed, compensate="refit")
    plan = Planner(model, analyzed(model, xs)).plan(spec)
    means, refitted = cut(model, plan), cut(model, plan)
    report = refit(model, refitted, plan, lambda: [xs], recurrent=False)
    assert report.consumers, "every architecture here has a consumer of a cut group"
    for fit in report.consumers:
        theirs, ours = model.get_layer(fit.layer), refitted.get_layer(fit.layer)
        h_orig = np.asarray(keras.Model(model.inputs, data_input(theirs))(xs))
        h_orig = h_orig.reshape(-1, h_orig.shape[-1])
        h_cut = np.asarray(keras.Model(refitted.inputs, data_input(ours))(xs))
        h_cut = h_cut.reshape(-1, h_cut.shape[-1])
        old, new, mean = theirs.get_weights(), ours.get_weights(), means.get_layer(fit.layer).get_weights()
        for k in input_kernels(ours, theirs, plan, recurrent=False):
            b = kernel_bias(old, k)
            want = h_orig @ old[k.weight][:, k.columns] + (0 if b is None else b[k.columns])

            def error(w, k=k, want=want, h_cut=h_cut):
                b = kernel_bias(w, k)
                return float(np.mean((h_cut @ w[k.weight] + (0 if b is None else b) - want) ** 2))

            assert error(new) <= error(mean) * (1 + 1e-6) + 1e-9


def test_a_fit_from_the_moments_of_its_sources_equals_the_fit_on_its_targets():
    """A wide head's ridge accumulates [u, 1]'s moments, its targets' map given at the end: the same solution, the
    same residuals as summing the targets themselves."""
    from lstmprune_cli.core.ridge import Ridge

    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 40))  # (S + 1, m): 6 sources, 40 outputs
    direct, moments = Ridge(5, 40), Ridge(5, 40, sources=6)
    for _ in range(3):
        h, u = rng.normal(size=(50, 5)), rng.normal(size=(50, 6))
        direct.add(h, np.concatenate([u, np.ones((50, 1))], axis=1) @ a)
        moments.add_sources(h, u)
    moments.map_sources(a)
    for got, want in zip(moments.solve(1e-4), direct.solve(1e-4)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    w, b = direct.solve(1e-4)
    np.testing.assert_allclose(moments.residual(w, b), direct.residual(w, b), rtol=1e-9, atol=1e-12)
    assert moments.count == direct.count == 150


def test_a_head_wider_than_its_inputs_is_refitted_from_their_moments_as_from_its_targets(tf, monkeypatch):
    """A Dense head of 40 outputs reading 8 states takes the moments route; forced through its targets instead,
    the refit writes the same weights."""
    import importlib

    import keras

    from lstmprune_cli.core.ridge import Ridge
    from lstmprune_cli.framework.surgery.cut import prune_model

    refit_module = importlib.import_module("lstmprune_cli.framework.prune.refit")  # the package exports refit()

    keras.utils.set_random_seed(5)
    head = keras.layers.Dense(40, name="head")
    model = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(8, name="lstm"), head])
    kept = {"lstm": np.array([0, 2, 3, 5, 7])}
    plan = plan_for(model, kept)
    x = np.random.default_rng(1).normal(size=(32, T, F)).astype("float32")
    small = prune_model(model, kept)
    refit_module.refit(model, small, plan, lambda: [x[:16], x[16:]], recurrent=False)
    moments = small.get_layer("head").get_weights()
    assert refit_module._ridge(moments, model.get_layer("head").get_weights(), _head_kernel()).sources == 8

    def targets(new, old, k):
        return Ridge(refit_module._rows(new, k), len(k.columns), intercept=k.bias is not None)

    monkeypatch.setattr(refit_module, "_ridge", targets)
    small = prune_model(model, kept)
    refit_module.refit(model, small, plan, lambda: [x[:16], x[16:]], recurrent=False)
    for a, b in zip(moments, small.get_layer("head").get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _head_kernel():
    from lstmprune_cli.framework.prune.refit import Kernel

    return Kernel(weight=0, bias=1, bias_row=None, columns=np.arange(40))


def test_later_rounds_replaying_the_originals_taps_write_what_recomputing_them_writes(tf):
    """A stacked LSTM refitted with the original's taps recorded in its first round and replayed in the second
    equals the refit that runs the original every round (no room to record); the replay is counted."""
    import keras

    from lstmprune_cli.framework.prune.refit import refit
    from lstmprune_cli.framework.surgery.cut import prune_model

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.LSTM(10, return_sequences=True, name="lstm1"),
            keras.layers.LSTM(8, name="lstm2"),
            keras.layers.Dense(3, name="head"),
        ]
    )
    kept = {"lstm1": np.array([0, 1, 4, 6, 9]), "lstm2": np.array([1, 2, 5, 7])}
    x = np.random.default_rng(2).normal(size=(48, T, F)).astype("float32")
    weights, reports = [], []
    for room in (2 << 30, 0):
        small = prune_model(model, kept)
        reports.append(
            refit(model, small, plan_for(model, kept), lambda: [x[:16], x[16:32], x[32:]], record_bytes=room)
        )
        weights.append(small.get_weights())
    assert (reports[0].passes, reports[0].replayed) == (5, 2) and (reports[1].passes, reports[1].replayed) == (5, 0)
    assert [c.after for c in reports[0].consumers] == pytest.approx([c.after for c in reports[1].consumers], rel=1e-6)
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
