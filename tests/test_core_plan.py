import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from lstmprune_cli.core.errors import LstmpruneError
from lstmprune_cli.core.groups import UnitGroup
from lstmprune_cli.core.plan import Plan, PlanSpec, build_plan


def groups():
    return [
        UnitGroup("bi/forward", "bi", "forward", "LSTM", 8, 5, "bi"),
        UnitGroup("bi/backward", "bi", "backward", "LSTM", 8, 5, "bi"),
        UnitGroup("lstm", "lstm", "", "LSTM", 6, 16, "lstm"),
    ]


def make(gs, theta, **spec):
    eig, vec = inputs()
    return build_plan(gs, fingerprint="fp", spec=PlanSpec.paper(theta, **spec), eigenvalues=eig, vectors=vec)


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    eig = {g.name: np.sort(rng.random(g.units) ** 4)[::-1] for g in groups()}
    vec = {g.name: rng.normal(size=(g.units, 4 * (g.input_dim + g.units))) for g in groups()}
    return eig, vec


@pytest.mark.parametrize("target", ["units", "layer-mean", "uniform"])
def test_bidirectional_directions_keep_the_same_count(target):
    plan = make(groups(), 0.5, target=target)
    kept = plan.kept()
    assert len(kept["bi/forward"]) == len(kept["bi/backward"])


def test_units_target_is_reached():
    plan = make(groups(), 0.5)
    assert sum(g.num_kept for g in plan.groups) == 11


def test_merged_directions_keep_the_same_units():
    gs = [
        UnitGroup(
            g.name, g.layer, g.direction, g.cell, g.units, g.input_dim, g.tie, same_as="bi" if g.layer == "bi" else ""
        )
        for g in groups()
    ]
    kept = make(gs, 0.6).kept()
    np.testing.assert_array_equal(kept["bi/forward"], kept["bi/backward"])


def test_output_groups_keep_every_unit():
    gs = groups()[:2] + [UnitGroup("lstm", "lstm", "", "LSTM", 6, 16, "lstm", prunable=False)]
    assert make(gs, 0.7).kept()["lstm"].tolist() == list(range(6))


def test_plan_file_replays_exactly(tmp_path):
    plan = make(groups(), 0.3, criterion="l2", min_units=2)
    plan.save(tmp_path / "plan.json")
    again = Plan.load(tmp_path / "plan.json")
    assert {k: v.tolist() for k, v in again.kept().items()} == {k: v.tolist() for k, v in plan.kept().items()}
    assert (again.theta, again.criterion, again.min_units) == (0.3, "l2", 2)
    again.check_matches("fp", groups())
    with pytest.raises(LstmpruneError, match="belongs to model"):
        again.check_matches("other", groups())


def test_bad_plans_and_thetas_are_refused(tmp_path):
    for theta in (0.0, 1.0, 1.3, -0.1):
        with pytest.raises(LstmpruneError, match="theta must be in"):
            make(groups(), theta)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(LstmpruneError, match="not an lstmprune plan"):
        Plan.load(tmp_path / "x.json")


def test_every_core_module_imports_without_the_framework():
    code = (
        "import pkgutil, sys, importlib\n"
        "for m in ('tensorflow', 'keras', 'tf_keras', 'h5py', 'typer', 'rich', 'matplotlib'):\n"
        "    sys.modules[m] = None\n"
        "import lstmprune_cli.core as core\n"
        "names = [m.name for m in pkgutil.iter_modules(core.__path__)]\n"
        "for name in names:\n"
        "    importlib.import_module(f'lstmprune_cli.core.{name}')\n"
        "print(len(names))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    modules = [p for p in (ROOT / "lstmprune_cli" / "core").glob("*.py") if p.name != "__init__.py"]
    assert int(done.stdout) == len(modules) >= 16  # every module of the core, walked


def test_a_spec_is_checked_once_where_it_is_made():
    for bad, match in (
        (dict(theta=1.0), "theta must be in"),
        (dict(theta=0.5, target="bogus"), "target must be one of units, layer-mean"),
        (dict(theta=0.5, criterion="x"), "criterion must be one of gm"),
        (dict(theta=0.5, min_units=0), "min_units must be at least 1"),
    ):
        with pytest.raises(LstmpruneError, match=match) as e:
            PlanSpec(**bad)
        assert e.value.option == next(iter(k for k in bad if k != "theta"), "theta")
