import subprocess
import sys

import numpy as np
import pytest

from lstmprune_cli.core.errors import LstmpruneError
from lstmprune_cli.core.groups import UnitGroup
from lstmprune_cli.core.plan import Plan, build_plan


def groups():
    return [
        UnitGroup("bi/forward", "bi", "forward", "LSTM", 8, 5, "bi"),
        UnitGroup("bi/backward", "bi", "backward", "LSTM", 8, 5, "bi"),
        UnitGroup("lstm", "lstm", "", "LSTM", 6, 16, "lstm"),
    ]


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    eig = {g.name: np.sort(rng.random(g.units) ** 4)[::-1] for g in groups()}
    vec = {g.name: rng.normal(size=(g.units, 4 * (g.input_dim + g.units))) for g in groups()}
    return eig, vec


@pytest.mark.parametrize("target", ["units", "layer-mean", "uniform"])
def test_bidirectional_directions_keep_the_same_count(target):
    eig, vec = inputs()
    plan = build_plan(groups(), eig, vec, "fp", 0.5, target)
    kept = plan.kept()
    assert len(kept["bi/forward"]) == len(kept["bi/backward"])


def test_units_target_is_reached():
    eig, vec = inputs()
    plan = build_plan(groups(), eig, vec, "fp", 0.5)
    assert sum(g.num_kept for g in plan.groups) == 11


def test_merged_directions_keep_the_same_units():
    gs = [
        UnitGroup(
            g.name, g.layer, g.direction, g.cell, g.units, g.input_dim, g.tie, same_as="bi" if g.layer == "bi" else ""
        )
        for g in groups()
    ]
    eig, vec = inputs()
    kept = build_plan(gs, eig, vec, "fp", 0.6).kept()
    np.testing.assert_array_equal(kept["bi/forward"], kept["bi/backward"])


def test_output_groups_keep_every_unit():
    gs = groups()[:2] + [UnitGroup("lstm", "lstm", "", "LSTM", 6, 16, "lstm", prunable=False)]
    eig, vec = inputs()
    assert build_plan(gs, eig, vec, "fp", 0.7).kept()["lstm"].tolist() == list(range(6))


def test_plan_file_replays_exactly(tmp_path):
    eig, vec = inputs()
    plan = build_plan(groups(), eig, vec, "fp", 0.3, criterion="l2", min_units=2)
    plan.save(tmp_path / "plan.json")
    again = Plan.load(tmp_path / "plan.json")
    assert {k: v.tolist() for k, v in again.kept().items()} == {k: v.tolist() for k, v in plan.kept().items()}
    assert (again.theta, again.criterion, again.min_units) == (0.3, "l2", 2)
    again.check_matches("fp", groups())
    with pytest.raises(LstmpruneError, match="belongs to model"):
        again.check_matches("other", groups())


def test_bad_plans_and_thetas_are_refused(tmp_path):
    eig, vec = inputs()
    for theta in (0.0, 1.0, 1.3, -0.1):
        with pytest.raises(LstmpruneError, match="theta must be in"):
            build_plan(groups(), eig, vec, "fp", theta)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(LstmpruneError, match="not an lstmprune plan"):
        Plan.load(tmp_path / "x.json")


def test_core_imports_no_framework():
    code = (
        "import sys\n"
        "for m in ('tensorflow', 'keras', 'tf_keras', 'h5py', 'typer', 'rich'):\n"
        "    sys.modules[m] = None\n"
        "import lstmprune_cli.core.plan, lstmprune_cli.core.statsfile, lstmprune_cli.core.summary\n"
        "import lstmprune_cli.core.workspace, lstmprune_cli.core.criteria, lstmprune_cli.core.rates\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
