"""Learned structures: ISS-L0 gates, ISS-GL group lasso and soft GM pruning end in exact cuts."""

import golden
import numpy as np
import pytest

from lstmprune_cli.core import learned

SHAPES = [("stacked", "concat"), ("bidirectional", "concat"), ("bidirectional", "sum")]


def _data():
    x = golden.sample_x(0, pad=False)  # (6, T, F)
    y = (np.random.default_rng(1).random((6, 3)) > 0.5).astype("float32")  # (6, 3)
    return x, y


def _copy(model):
    twin = type(model).from_config(model.get_config())
    twin.set_weights(model.get_weights())
    return twin


def _learn(model, method, **kw):
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.train.learners import learn

    x, y = _data()
    settings = dict(epochs=4, steps_per_epoch=4, learning_rate=0.05) | kw
    return learn(model, method, lambda: [(x, y)] * 4, Task("multilabel", 3), **settings)


def _max_diff(a, b, x) -> float:
    return float(np.max(np.abs(np.asarray(a(x, training=False)) - np.asarray(b(x, training=False)))))


@pytest.mark.parametrize("arch,merge", SHAPES)
def test_gates_at_a_huge_penalty_keep_the_floor_and_at_none_keep_everything(tf, arch, merge):
    model = golden.build(arch, merge_mode=merge)
    closed = _learn(_copy(model), "l0", theta=None, penalty=1e6)
    assert {g.name: g.num_kept for g in closed.plan.groups if g.units > 1} == {
        g.name: 1 for g in closed.plan.groups if g.units > 1
    }
    assert closed.record["exact"]
    opened = _learn(_copy(model), "l0", theta=None, penalty=0.0)
    assert all(g.num_kept == g.units for g in opened.plan.groups)


@pytest.mark.parametrize("arch,merge", SHAPES)
def test_a_plan_of_zero_one_gates_reproduces_the_gated_model(tf, arch, merge):
    """Gates at exactly 0 or 1: the cut model computes what the gated model computes (golden)."""
    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.units import unit_sets
    from lstmprune_cli.framework.train.learners import Gates, scaled_call, set_shapes

    model = golden.build(arch, merge_mode=merge)
    sets = unit_sets(model)
    gates = Gates(model, sets, share=0.5, steps=1, penalty=0.0, seed=0, lr=1e-3)
    rng = np.random.default_rng(3)
    log_alpha = np.where(rng.random(gates.v.shape[0]) < 0.5, 10.0, -10.0)
    gates.v.assign((log_alpha / gates.speed).astype("float32"))
    z = learned.deterministic_gate(log_alpha)
    assert set(np.unique(z)) <= {0.0, 1.0}
    x = golden.sample_x(2)
    want = np.asarray(scaled_call(model, x, gates.rows, tf.constant(z, tf.float32), training=False))
    scores = gates.scores(model)  # folds the gates into the rows they scale
    chosen = gates.kept(set_shapes(sets), scores, None, None, penalty=0.0)  # open gates; ties padded, floors kept
    kept = {g.name: k for s, k in zip(sets, chosen) for g in s.groups}
    got = np.asarray(prune_model(model, kept)(x, training=False))
    assert np.max(np.abs(got - want)) <= 1e-5


@pytest.mark.parametrize("arch,merge", SHAPES)
def test_group_lasso_zeroes_whole_units_and_the_plan_slices_exactly_those(tf, arch, merge):
    from lstmprune_cli.framework.surgery.units import scale_units, squared_norms, unit_sets

    trained = golden.build(arch, merge_mode=merge)
    for s in unit_sets(trained):  # every other unit weak: the penalty should zero those and only those
        scale_units(trained, s, np.where(np.arange(s.units) % 2 == 0, 1.0, 0.2))
    found = _learn(trained, "group-lasso", theta=None, penalty=0.04, learning_rate=0.01)
    dead, removed = {}, {}
    for s in unit_sets(trained):
        dead[s.name] = np.flatnonzero(squared_norms(trained, s) == 0)
        removed[s.name] = np.setdiff1d(np.arange(s.units), found.plan.kept()[s.groups[0].name])
        assert set(removed[s.name]) <= set(dead[s.name])  # only units at exact zero go
        assert len(dead[s.name]) < s.units  # the strong units survive
    ties: dict[str, list[str]] = {}
    for s in unit_sets(trained):
        ties.setdefault(s.tie, []).append(s.name)
    for names in ties.values():  # all of them, up to equal counts across tied directions
        assert {len(removed[n]) for n in names} == {min(len(dead[n]) for n in names)}
    assert sum(len(d) for d in dead.values()) > 0
    assert found.record["exact"]
    assert _max_diff(trained, found.model, golden.sample_x(4)) <= 1e-5


def test_soft_pruning_lets_a_zeroed_unit_grow_back_and_cuts_exactly(tf):
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.surgery.units import squared_norms, unit_sets
    from lstmprune_cli.framework.train.learners import SoftPruning, learn
    from lstmprune_cli.framework.train.loop import fit

    model = golden.build("stacked")
    x, y = _data()
    statistics = golden.analyzed(model, x)
    from lstmprune_cli.core.plan import PlanSpec, allocate

    spec = PlanSpec.paper(0.5, target="uniform")
    counts, _, _ = allocate(statistics.groups, eigenvalues=statistics.eigenvalues(), spec=spec)
    trained = _copy(model)
    sets = unit_sets(trained)
    soft = SoftPruning(trained, sets, counts=counts, spec=spec, every=3)
    fit(trained, lambda: [(x, y)] * 3, Task("multilabel", 3), epochs=1, learning_rate=0.05, learner=soft)
    zeroed = soft.zeroed[0][sets[0].name]
    assert len(zeroed) == sets[0].units - counts[sets[0].groups[0].name]
    assert np.all(squared_norms(trained, sets[0], "incoming")[zeroed] == 0)  # silenced at the last step
    fit(trained, lambda: [(x, y)] * 2, Task("multilabel", 3), epochs=1, learning_rate=0.05)  # no pruning
    assert np.all(squared_norms(trained, sets[0], "incoming")[zeroed] > 0)  # they grow back

    found = learn(
        _copy(model),
        "soft-gm",
        lambda: [(x, y)] * 4,
        Task("multilabel", 3),
        theta=0.5,
        spec=spec,
        statistics=statistics,
        epochs=2,
        steps_per_epoch=4,
        learning_rate=0.05,
    )
    assert [g.num_kept for g in found.plan.groups] == [counts[g.name] for g in found.plan.groups]
    assert found.record["exact"]


SILENCED = [*[(a, m, "LSTM", "gm") for a, m in SHAPES], ("stacked", "concat", "GRU", "obs")]


@pytest.mark.parametrize(("arch", "merge", "cell", "criterion"), SILENCED)
def test_a_compensated_silencing_makes_the_uncut_model_compute_its_refitted_cut(tf, arch, merge, cell, criterion):
    """Golden: soft-gm silences units compensated as `prune` compensates a cut; the model it leaves (every unit
    still there) computes what the refitted cut of the model before it computes, and the cut of it is that cut."""
    from lstmprune_cli.core.plan import PlanSpec, allocate
    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.groups import unit_groups
    from lstmprune_cli.framework.surgery.units import squared_norms, unit_sets
    from lstmprune_cli.framework.train.learners import SoftPruning, compensated_cut, learned_plan

    model = golden.build(arch, merge, cell=cell)
    x, _ = _data()
    statistics = golden.analyzed(model, x)
    spec = PlanSpec.paper(0.5, target="uniform", criterion=criterion)
    counts, _, _ = allocate(statistics.groups, eigenvalues=statistics.eigenvalues(), spec=spec)
    before, sets = _copy(model), unit_sets(model)
    settings = dict(counts=counts, spec=spec, every=1, compensate="refit", calibration=lambda: [x])
    soft = SoftPruning(model, sets, **settings, statistics=statistics)
    soft.prune(model)
    ranked = soft.ranked[1]
    kept = [ranked[s.groups[0].name][0] for s in sets]
    plan = learned_plan("", unit_groups(before), sets, kept, [np.zeros(s.units) for s in sets], None, "soft-gm", 1, 0)
    small = compensated_cut(before, plan, "refit", lambda: [x])
    assert plan.extra["refit"]["consumers"]
    assert _max_diff(model, small, x) <= 1e-5
    assert _max_diff(model, before, x) > 1e-3  # the silencing changed the function; the refit is what it computes
    again = prune_model(model, plan.kept())
    for ours, theirs in zip(again.get_weights(), small.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    for s, k in zip(sets, kept):
        removed = np.setdiff1d(np.arange(s.units), k)
        assert np.all(squared_norms(model, s, "incoming")[removed] == 0)  # silenced
        assert np.all(squared_norms(model, s, "outgoing")[removed] > 0)  # the rows that let it regrow stay


@pytest.mark.parametrize("method", ["group-lasso", "l0"])
@pytest.mark.parametrize("arch,merge", [("stacked", "concat"), ("bidirectional", "sum")])
def test_a_compensated_closing_makes_the_model_compute_its_refitted_cut(tf, arch, merge, method):
    """Golden: l0 and group-lasso close their budget's units compensated as `prune` compensates a cut; the model
    they leave (gated at the deterministic gates, some of them below 1) computes the refitted cut of the model before,
    the closed units reach nothing, and the cut they then make removes exactly them."""
    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.groups import unit_groups
    from lstmprune_cli.framework.surgery.units import scale_units, squared_norms, unit_sets
    from lstmprune_cli.framework.train import learners
    from lstmprune_cli.framework.train.cuts import exact_cut

    model = golden.build(arch, merge)
    x, _ = _data()
    before, sets = _copy(model), unit_sets(model)
    removed = learners.budget_removed(model, sets, "units")
    kw = dict(share=learners.kept_share(sets, removed, 0.5), steps=1, penalty=None)
    setting = learners.Setting(sets, kw["share"], 1, 0.5, None, 1, 0, 1e-3, 0, None, None, removed=removed)
    setting.compensate, setting.calibration, setting.allocation = "refit", lambda: [x], "learned"
    if method == "l0":
        learner = learners.Gates(model, sets, **kw, seed=0, lr=1e-3, setting=setting)
        la = np.random.default_rng(5).permutation(np.linspace(0.3, 2.3, learner.v.shape[0]))  # (N,) gates 0.63..0.99
        learner.v.assign((la / learner.speed).astype("float32"))
        for s, v in zip(sets, learner.current(before)):  # the model the deterministic gates compute
            scale_units(before, s, learned.deterministic_gate(v), slots="outgoing")
    else:
        learner = learners.GroupLasso(model, sets, **kw, setting=setting)
    learner.close(model, 1)  # the one closing of a one-step phase: the whole budget
    kept = learner.final
    removed = sum(s.units - len(k) for s, k in zip(sets, kept))
    assert kept is not None and learner.closings == [[1, removed, removed]]  # every one alive until it closed
    plan = learners.learned_plan("", unit_groups(before), sets, kept, [None] * len(sets), None, method, 1, 0)
    small = learners.compensated_cut(before, plan, "refit", lambda: [x])
    if method == "l0":
        z = np.concatenate([learned.deterministic_gate(v) for v in learner.current(model)])  # (N,) closed: 0
        assert np.sum(z == 0) == sum(s.units - len(k) for s, k in zip(sets, kept)) and np.min(z[z > 0]) < 0.9
        found = np.asarray(learners.scaled_call(model, x, learner.rows, tf.constant(z, tf.float32), training=False))
    else:
        found = np.asarray(model(x, training=False))
    assert np.max(np.abs(found - np.asarray(small(x, training=False)))) <= 1e-5
    if method == "group-lasso":  # its closed units are out of the model itself (l0's: out of the gated model)
        assert _max_diff(model, before, x) > 1e-3
    for s, k in zip(sets, kept):
        out = np.setdiff1d(np.arange(s.units), k)
        assert len(out) and np.all(squared_norms(model, s, "outgoing")[out] == 0)  # they reach nothing
    assert exact_cut(sets, kept, model)["removed_alive"] == 0
    assert [list(k) for k in learner.kept(None, None, None, 0.5, None)] == [list(k) for k in kept]
    again = prune_model(model, plan.kept())
    if method == "group-lasso":  # the cut of the closed model is the refitted cut
        for ours, theirs in zip(again.get_weights(), small.get_weights()):
            np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_a_written_back_cut_carries_a_batch_normalization_constant_exactly(tf):
    """write_back: the cut of the edited model is the edited cut, also where a removed unit's 0 leaves a
    BatchNormalization constant that the cut folds into the next bias."""
    import keras

    from lstmprune_cli.framework.surgery.cut import index_maps, prune_model, write_back
    from lstmprune_cli.framework.surgery.units import scale_units, unit_sets

    inputs = keras.Input((golden.T, golden.F))
    h = keras.layers.LSTM(6)(inputs)
    h = keras.layers.BatchNormalization()(h)
    model = keras.Model(inputs, keras.layers.Dense(3)(h))
    rng = np.random.default_rng(0)
    norm = model.layers[2]
    norm.set_weights([w + rng.uniform(0.5, 1.0, w.shape).astype("float32") for w in norm.get_weights()])
    x, _ = _data()
    kept = {model.layers[1].name: np.array([0, 2, 3, 5])}
    maps = index_maps(model, kept)
    for name, at in maps.items():  # positions only: the cut of a model without constants is a gather
        for w, a in zip(model.get_layer(name).get_weights(), at):
            assert a.dtype == np.int64 and len(np.unique(a)) == a.size <= w.size
    sets = unit_sets(model)
    factors = np.zeros(6)
    factors[kept[model.layers[1].name]] = 1.0
    scale_units(model, sets[0], factors, slots="incoming")  # the removed units output 0
    small = prune_model(model, kept)
    dense = small.layers[-1]
    dense.set_weights([w + rng.normal(size=w.shape).astype("float32") for w in dense.get_weights()])  # an edit
    write_back(model, small, kept)
    assert _max_diff(model, small, x) <= 1e-5
    for ours, theirs in zip(prune_model(model, kept).get_weights(), small.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def _language_model():
    import keras

    inputs = keras.Input((golden.T,), dtype="int32")
    x = keras.layers.Embedding(20, 5, mask_zero=True)(inputs)
    x = keras.layers.LSTM(6, return_sequences=True)(x)
    return keras.Model(inputs, keras.layers.TimeDistributed(keras.layers.Dense(20, activation="softmax"))(x))


def _zero_one_cut(model, x, tf):
    """Gates at exactly 0 or 1 on hidden units and input neurons: (the gated model's output, the cut model)."""
    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.groups import unit_groups
    from lstmprune_cli.framework.surgery.units import unit_sets
    from lstmprune_cli.framework.train.learners import Gates, learned_plan, scaled_call, set_shapes

    sets = unit_sets(model, inputs=True)
    gates = Gates(model, sets, share=0.5, steps=1, penalty=0.0, seed=0, lr=1e-3)
    log_alpha = np.where(np.random.default_rng(5).random(gates.v.shape[0]) < 0.5, 10.0, -10.0)
    gates.v.assign((log_alpha / gates.speed).astype("float32"))
    z = tf.constant(learned.deterministic_gate(log_alpha), tf.float32)
    want = np.asarray(scaled_call(model, x, gates.rows, z, training=False))
    scores = gates.scores(model)
    kept = gates.kept(set_shapes(sets), scores, None, None, penalty=0.0)  # the open gates, as learn keeps them
    plan = learned_plan("f", unit_groups(model), sets, kept, scores, 0.5, "l0", 1, 0)
    assert plan.inputs() and all(len(k) < s.units for k, s in zip(kept, sets) if s.reader)
    return want, prune_model(model, plan.kept(), inputs=plan.inputs()), plan


def test_input_neurons_of_an_embedding_language_model_are_cut_exactly(tf):
    model = _language_model()
    x = np.random.default_rng(0).integers(1, 20, (4, golden.T)).astype("int32")  # (B, T) token ids
    x[0, 5:] = 0  # padding, masked
    want, small, plan = _zero_one_cut(model, x, tf)
    embedding = next(layer for layer in small.layers if type(layer).__name__ == "Embedding")
    assert embedding.output_dim == len(next(iter(plan.inputs().values())))  # its dimensions went, no selection
    assert not any(layer.name.endswith("_inputs") for layer in small.layers)
    assert np.max(np.abs(np.asarray(small(x, training=False)) - want)) <= 1e-5


def test_raw_input_neurons_go_through_a_selection_that_loads_safely_and_analyzes(tf, tmp_path):
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.jobs.export import export
    from lstmprune_cli.framework.stats.analysis import analyze

    model = golden.build("stacked", masked=True)
    x = golden.sample_x(1)
    want, small, plan = _zero_one_cut(model, x, tf)
    assert np.max(np.abs(np.asarray(small(x, training=False)) - want)) <= 1e-5
    selection = next(layer for layer in small.layers if layer.name.endswith("_inputs"))
    kept = next(iter(plan.inputs().values()))
    assert selection.weights[0].shape == (golden.F, len(kept)) and not selection.trainable
    assert tuple(small.inputs[0].shape) == tuple(model.inputs[0].shape)  # the same input signature
    path = tmp_path / "small.keras"
    small.save(path)
    loaded = models.load_model(path)  # safe mode
    assert np.max(np.abs(np.asarray(loaded(x, training=False)) - want)) <= 1e-5
    exported = export(path, to="tflite", out=tmp_path / "small.tflite")  # checked against Keras before written
    assert exported.max_abs_diff <= 1e-5
    np.save(tmp_path / "x.npy", x)
    stats = analyze(path, str(tmp_path / "x.npy")).statistics  # the same data, the selection inside the model
    assert {g.name: g.units for g in stats.groups} == {g.name: g.num_kept for g in plan.groups}


@pytest.mark.parametrize("budget", ["params", "flops"])
def test_learned_cuts_meet_a_parameter_or_flops_budget(tf, budget):
    from lstmprune_cli.framework.models import costs

    model = golden.build("bidirectional")
    before = {"params": model.count_params(), "flops": costs.flops(model, golden.T)["per_step"]}
    found = _learn(model, "l0", theta=0.5, budget=budget)
    after = {"params": found.model.count_params(), "flops": costs.flops(found.model, golden.T)["per_step"]}
    assert 1 - after[budget] / before[budget] >= 0.5 - 1e-9
    assert found.plan.extra["budget"] == budget


@pytest.mark.parametrize("method", ["l0", "group-lasso"])
def test_closings_over_the_learning_steps_close_more_each_time_and_the_cut_removes_the_last(tf, method, monkeypatch):
    """A learner entry with four closings (the search tries them): evenly over the learning steps, each closing
    compensated, more units each time, and the cut removes exactly the last closing's units, none of them alive."""
    from dataclasses import replace

    from lstmprune_cli.framework.train import learners

    monkeypatch.setitem(learners.LEARNERS, method, replace(learners.LEARNERS[method], closings=4))
    x, _ = _data()
    found = _learn(golden.build("stacked"), method, theta=0.5, epochs=10, compensate="refit", calibration=lambda: [x])
    learn_steps = round(learners.learning_share(method) * 40)
    closings = found.record["closings"]
    assert [c[0] for c in closings] == [round(k * learn_steps / 4) for k in range(1, 5)]
    counts = [c[1] for c in closings]
    assert sum(c[2] for c in closings) <= counts[-1]  # the newly closed units alive when closed: at most all
    assert 0 < counts[0] < counts[-1] and counts == sorted(counts)
    assert counts[-1] == found.record["cut"]["removed"] and found.record["cut"]["removed_alive"] == 0


@pytest.mark.parametrize("method", ["l0", "group-lasso", "soft-gm"])
def test_a_budgeted_learner_learns_then_cuts_and_trains_the_cut_for_the_rest_of_its_steps(tf, method):
    """With a budget: learn over its share of the steps (LEARN, or its entry's), cut (compensated) there, train the
    cut model over the rest; the model written is the one trained last (exact), with the budget removed. soft-gm:
    its registered rates (uniform: every group at theta)."""
    from lstmprune_cli.framework.train.learners import LEARNERS, learning_share

    model = golden.build("bidirectional")
    statistics = golden.analyzed(model, _data()[0]) if LEARNERS[method].statistics else None
    found = _learn(model, method, theta=0.5, epochs=10, statistics=statistics)  # 40 steps of 6, 4 per epoch
    learn_steps = max(1, round(learning_share(method) * 40))
    assert found.record["learn_steps"] == learn_steps and found.record["train_steps"] == 40 - learn_steps
    assert found.record["cut"]["step"] == learn_steps
    phases = [e["phase"] for e in found.record["epochs"]]
    assert phases == ["learn"] * -(-learn_steps // 4) + ["train"] * -(-(40 - learn_steps) // 4)  # epochs of 4
    assert sum(e["samples"] for e in found.record["epochs"]) == 40 * 6
    assert found.record["exact"] and found.plan.achieved()["units"] >= 0.5 - 1e-9
    shapes = {g.name: g.num_kept for g in found.plan.groups}
    from lstmprune_cli.framework.surgery.groups import unit_groups

    assert {g.name: g.units for g in unit_groups(found.model)} == shapes
    if method == "soft-gm":
        assert {g.name: g.num_kept for g in found.plan.groups} == {g.name: g.units // 2 for g in found.plan.groups}
    else:  # closed `closings` times, evenly, the last at the cut, more each time
        n = LEARNERS[method].closings
        steps = [round(k * learn_steps / n) for k in range(1, n + 1)]
        closings = found.record["closings"]
        assert [c[0] for c in closings] == sorted(set(steps) - {0})
        assert all(a[1] <= b[1] for a, b in zip(closings, closings[1:])) and closings[0][1] > 0
        assert closings[-1][1] == found.record["cut"]["removed"]
    assert found.record["cut"]["removed_alive"] == 0  # closed or silenced for the last time at the cut
    assert found.record["cut"]["removed"] == sum(g.units - g.num_kept for g in found.plan.groups)  # concat: untied


def test_with_validation_data_the_cut_keeps_its_best_epoch_of_training(tf):
    """learn --val: the cut model's training is judged on the validation batches every epoch, and the model
    written is its best epoch there, as finetune's (labels opposite to the training ones: fitting them makes the
    later epochs worse there)."""
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.train.loop import evaluate

    x, y = _data()
    held = lambda: [(x, 1 - y)]  # noqa: E731
    found = _learn(golden.build("single"), "l0", theta=0.5, epochs=10, validation=held, patience=99)
    trained = [e for e in found.record["epochs"] if e["phase"] == "train"]
    assert trained and all(e["validation"] is not None for e in trained)
    assert all(e["validation"] is None for e in found.record["epochs"] if e["phase"] == "learn")
    losses = [e["validation"]["loss"] for e in trained]
    assert min(losses) < losses[-1]  # the last epoch is not the best
    assert evaluate(found.model, held(), Task("multilabel", 3)).loss == pytest.approx(min(losses), rel=1e-5)


def test_at_cut_scores_the_compensated_cut_once_between_learning_and_training(tf):
    """learn(at_cut=): the cut model, smaller and compensated, is scored after the last learning epoch and before
    the first training one (what `learn --val` reports as right after the cut)."""
    events, sizes = [], []

    def at_cut(model):
        events.append("cut")
        sizes.append(model.count_params())
        return {"params": model.count_params()}

    model = golden.build("single")
    before = model.count_params()
    found = _learn(model, "group-lasso", theta=0.5, epochs=5, at_cut=at_cut, on_epoch=lambda e: events.append(e))
    phases = [e["phase"] for e in found.record["epochs"]]
    assert events.count("cut") == 1 and len(events) == len(phases) + 1
    assert events.index("cut") == phases.index("train")  # every learning epoch before it, every training one after
    assert found.record["at_cut"] == {"params": found.model.count_params()} == {"params": sizes[0]}
    assert sizes[0] < before


def test_a_learned_cut_with_mean_compensation_equals_the_masked_model_with_its_means_folded(tf):
    """Golden: the compensated cut of a learned plan is the trained model with the removed units masked and
    each one's mean output on the calibration data folded into the next layer's bias."""
    import keras

    from lstmprune_cli.framework.surgery.groups import unit_groups
    from lstmprune_cli.framework.surgery.units import unit_sets
    from lstmprune_cli.framework.train.learners import compensated_cut, learned_plan

    model = golden.build("single")
    x, _ = _data()
    groups, sets = unit_groups(model), unit_sets(model)
    kept = [np.array([0, 2, 3]) for _ in sets]
    plan = learned_plan("f", groups, sets, kept, [np.zeros(s.units) for s in sets], 0.5, "l0", 1, 0)
    small = compensated_cut(model, plan, "mean", lambda: [x])

    first = groups[0]
    states = keras.Model(model.inputs, model.get_layer(first.layer).output)(x).numpy()  # (B, H): final states
    reference = golden.masked_model(model, plan.kept())
    consumer = next(layer for layer in reference.layers if layer.name != first.layer and layer.get_weights())
    removed = np.setdiff1d(np.arange(first.units), kept[0])
    weights = consumer.get_weights()
    weights[-1] = weights[-1] + states.mean(axis=0)[removed] @ weights[0][removed]
    consumer.set_weights(weights)
    assert _max_diff(small, reference, x) <= 1e-5
    assert plan.extra["compensate"] == "mean"
    refitted = compensated_cut(model, plan, "refit", lambda: [x])
    assert plan.extra["refit"]["consumers"] and refitted.count_params() == small.count_params()


def test_percentiles_place_each_unit_in_its_set_with_ties_sharing_their_mean_place():
    assert np.allclose(learned.percentiles(np.array([3.0, 1.0, 2.0, 2.0, 5.0])), [0.8, 0.2, 0.5, 0.5, 1.0])


def test_a_prior_orders_the_starting_gates_and_thresholds_and_leaves_the_function_unchanged(tf):
    """l0 starts with its gates' log_alpha in the prior's order, every gate still open (the model computes what
    it did); group lasso's choice starts as the prior's percentiles."""
    from lstmprune_cli.framework.surgery.units import unit_sets
    from lstmprune_cli.framework.train.learners import Gates, GroupLasso, Setting, scaled_call

    model = golden.build("stacked")
    sets = unit_sets(model)
    rng = np.random.default_rng(3)
    prior = {s.groups[0].name: rng.permutation(s.units).astype(float) for s in sets}
    setting = Setting(sets, 0.5, 40, 0.5, None, 1, 0, 1e-3, 10, None, None, prior=prior)
    x, _ = _data()
    gates = Gates(model, sets, share=0.5, steps=40, penalty=None, seed=0, lr=1e-3, setting=setting)
    for s, la in zip(sets, gates.current(model)):
        assert np.array_equal(np.argsort(la), np.argsort(prior[s.groups[0].name]))
        assert np.all(learned.deterministic_gate(la) == 1.0)
    z = tf.constant(np.concatenate([learned.deterministic_gate(la) for la in gates.current(model)]), tf.float32)
    assert np.max(np.abs(scaled_call(model, x, gates.rows, z, training=False) - model(x))) <= 1e-6
    lasso = GroupLasso(model, sets, share=0.5, steps=40, penalty=None, setting=setting)
    for s, v in zip(sets, lasso.current(model)):
        assert np.allclose(v, learned.percentiles(prior[s.groups[0].name]))


def test_group_lasso_that_barely_trains_keeps_the_units_its_prior_ranks_first(tf):
    model = golden.build("stacked")
    from lstmprune_cli.framework.surgery.units import unit_sets

    sets = unit_sets(model)
    prior = {g.name: np.arange(g.units, dtype=float)[::-1] for s in sets for g in s.groups}  # lower index first
    found = _learn(model, "group-lasso", theta=0.5, epochs=6, learning_rate=1e-7, prior=prior)
    for g in found.plan.groups:
        assert g.kept_units == list(range(g.num_kept))


def test_the_uniform_allocation_keeps_each_sets_own_best_at_one_rate():
    """select_uniform: every set keeps the same share (its own highest scores), the budget met; the global
    ranking instead lets one set's high scores take the others' places."""
    shapes = [learned.SetShape("a", 10, 1, "a"), learned.SetShape("b", 20, 1, "b")]
    scores = [np.arange(10.0) + 100, np.arange(20.0)]  # every unit of a outranks every unit of b
    removed = learned.units_removed(shapes)
    kept = learned.select_uniform(shapes, scores, removed, 0.5)
    assert [len(k) for k in kept] == [5, 10] and removed([5, 10]) >= 0.5
    assert list(kept[0]) == list(range(5, 10)) and list(kept[1]) == list(range(10, 20))  # each set's own best
    assert [len(k) for k in learned.select(shapes, scores, removed, 0.5)] == [10, 5]  # the global ranking
    floors = [learned.SetShape("a", 10, 1, "a", floor=4), learned.SetShape("b", 20, 1, "b")]
    assert [len(k) for k in learned.select_uniform(floors, scores, learned.units_removed(floors), 0.9)] == [4, 1]


def test_learn_with_the_uniform_allocation_cuts_every_group_at_theta(tf):
    model = golden.build("stacked")
    found = _learn(model, "group-lasso", theta=0.5, allocation="uniform")
    assert all(g.num_kept == g.units // 2 for g in found.plan.groups) and found.record["exact"]
    assert found.plan.extra["allocate"] == "uniform"
    from lstmprune_cli.core.errors import LstmpruneError

    with pytest.raises(LstmpruneError, match="takes --allocate learned or uniform"):
        _learn(golden.build("stacked"), "l0", theta=0.5, allocation="energy")
