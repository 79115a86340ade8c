"""Each thing the tool grows by is one entry in one registry: an allocator, a criterion, a learner or a task
registered from outside the package is taken by the CLI and listed in its help, with no other file touched."""

import json

import numpy as np
import pytest
from records import single_feature_file

from lstmprune_cli.core import criteria, plan
from lstmprune_cli.core.plan import Plan


@pytest.fixture(scope="module")
def project(tf, tmp_path_factory):
    """LSTM(10) -> Dense(4, sigmoid), and labelled sequences for it."""
    import keras

    root = tmp_path_factory.mktemp("registries")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 8))
    x = keras.layers.LSTM(10, name="lstm")(inputs)
    keras.Model(inputs, keras.layers.Dense(4, activation="sigmoid")(x)).save(root / "model.keras")
    single_feature_file(root / "data.tfrecord", 8, count=48, frames=6)
    return root


def listed(cli, verb: str, name: str) -> bool:
    r = cli(verb, "--help")
    assert r.exit_code == 0, r.output
    return name in r.stdout


def test_an_allocator_and_a_criterion_from_outside_are_taken_by_prune_and_sweep(project, cli, monkeypatch, tmp_path):
    assert not listed(cli, "prune", "halves")
    monkeypatch.setitem(plan.ALLOCATORS, "halves", lambda a: ([max(g.floor, g.units // 2) for g in a.groups], None))
    monkeypatch.setitem(criteria.CRITERIA, "first", lambda r: -np.arange(r.vectors.shape[0], dtype=float))
    for verb in ("prune", "sweep"):
        assert listed(cli, verb, "halves") and listed(cli, verb, "first")
    ws = tmp_path / "ws"
    assert cli("analyze", project / "model.keras", "--data", project / "data.tfrecord", ws=ws).exit_code == 0
    flags = ("--allocate", "halves", "--criterion", "first", "--compensate", "none", "--dry-run", "--no-latency")
    r = cli("prune", "--theta", 0.1, *flags, "--json", ws=ws)  # the allocator, not theta, sets the counts
    assert r.exit_code == 0, r.output
    assert Plan.load(ws / "plan.json").kept()["lstm"].tolist() == [0, 1, 2, 3, 4]  # the lowest scores go first
    r = cli("prune", "--theta", 0.5, "--allocate", "thirds", "--dry-run", ws=ws)
    assert r.exit_code == 2 and "halves" in r.stderr  # an unknown one is refused with the registered names


def test_a_learner_from_outside_is_taken_by_learn(project, cli, monkeypatch, tmp_path):
    from lstmprune_cli.framework.surgery.units import squared_norms
    from lstmprune_cli.framework.train.learners import LEARNERS, Learner, Method

    class Norms(Learner):
        """Train plainly; keep the units whose weights are largest."""

        def __init__(self, sets):
            self.sets = sets

        def scores(self, model):
            return [squared_norms(model, s) for s in self.sets]

    monkeypatch.setitem(LEARNERS, "norms", Method(lambda model, setting: Norms(setting.sets), penalty=False))
    assert listed(cli, "learn", "norms")
    ws = tmp_path / "ws"
    data = project / "data.tfrecord"
    args = ("--theta", 0.5, "--data", data, "--epochs", 1, "--no-distill", "--out", tmp_path / "small.keras")
    r = cli("learn", "--method", "norms", "--model", project / "model.keras", *args, "--json", ws=ws)
    assert r.exit_code == 0, r.output
    assert len(Plan.load(ws / "plan.json").kept()["lstm"]) == 5
    r = cli("learn", "--method", "norms", "--penalty", 0.1, "--data", data, ws=tmp_path / "other")
    assert r.exit_code == 2 and "takes --theta" in r.stderr  # the entry says it takes no penalty


def test_a_task_from_outside_is_taken_by_finetune(project, cli, monkeypatch, tmp_path):
    import keras

    from lstmprune_cli.framework.models.tasks import TASKS, TaskType

    entry = TaskType(
        criterion=lambda task: (keras.losses.SquaredHinge(), keras.losses.SquaredHinge()),
        metrics=lambda scores, targets, task: {"mean_score": float(scores.mean())},
        losses=("squared_hinge",),
    )
    monkeypatch.setitem(TASKS, "hinge", entry)
    assert listed(cli, "finetune", "squared_hinge")
    data = project / "data.tfrecord"
    out = tmp_path / "tuned.keras"
    args = ("--data", data, "--val", data, "--epochs", 1, "--loss", "squared_hinge", "--no-distill", "--out", out)
    r = cli("finetune", project / "model.keras", *args, "--json", ws=tmp_path / "ws")
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["task"] == "hinge" and 0 < record["epochs"][0]["validation"]["mean_score"] < 1
