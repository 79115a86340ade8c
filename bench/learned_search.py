"""The learned methods' settings, chosen on validation clips: every value tried and its score is recorded.

    python -m bench.learned_search              # writes docs/results/learned_search.json; the document shows it
    python -m bench.learned_search allocation   # only the second stage, kept beside the saved first
    python -m bench.learned_search controls     # only the third
    python -m bench.learned_search soft         # only the fourth: soft-gm's allocation (`soft again`: its saved
                                                # rows run again too)
    python -m bench.learned_search across       # only the fifth: settings tried on Penn Treebank too (the
                                                # entries not saved yet; `across again`: all of them;
                                                # `across again soft-gm`: that method's)

With a budget, `l0` and `group-lasso` learn the structure over LEARN of the steps, starting from a prior ranking
(`learn --prior`: the shipped cut's OBS scores, or none), are cut and compensated there, and train the cut model
over the rest (`framework/train/learners.py`); `l0`'s gates may travel GATE_TRAVEL in log-alpha over the learning
steps. Each setting below trains the sample at theta 0.5 for 2 epochs over 4,000 `bal_train` clips (distilled,
cosine from Adam 1e-3), cuts with the refit, and scores GAP@20 on the validation clips of `eval-00000` (those
beyond the 2,048 the prior's statistics read), never on the test clips of `eval-00001..3`.

The second stage chooses each learner's allocation (`learn --allocate`) where the learners' own allocation and
uniform rates differ most, at theta ALLOCATION_THETA, with each method's chosen settings and SEEDS seeds. The
third chooses the penalty controls (CONTROLS) there, one at a time, a new value taken only beyond TIE points.
The fourth chooses soft-gm's allocation and phases there (SOFT_OPTIONS: the paper's energy rule on the share of
units, or every group at theta; soft pruning over all the steps as the paper trains, or over a share of them, then
the cut, compensated, trains over the rest as l0 and group-lasso do), its ranking the paper's geometric median, a
new option taken only beyond TIE points.
The fifth tries each ACROSS setting on part 2's language model as well (validation perplexity on valid windows
that no best-epoch choice reads): a learner's default must hold on both of the data sets at hand.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

import numpy as np

from . import audioset
from .common import Mode, log, mode, save, shuffled

GRID = {  # per method: the settings tried (LEARN, the prior, and l0's GATE_TRAVEL)
    "l0": [
        {"learn": 0.05, "prior": "obs", "travel": 2.0},
        {"learn": 0.05, "prior": "obs", "travel": 16.0},
        {"learn": 0.2, "prior": "obs", "travel": 2.0},
        {"learn": 0.2, "prior": "obs", "travel": 16.0},
        {"learn": 0.2, "prior": "none", "travel": 16.0},
        {"learn": 0.2, "prior": "obs", "travel": 0.5},
        {"learn": 0.5, "prior": "obs", "travel": 2.0},
        {"learn": 0.2, "prior": "none", "travel": 2.0},
    ],
    "group-lasso": [
        {"learn": 0.05, "prior": "obs"},
        {"learn": 0.2, "prior": "obs"},
        {"learn": 0.5, "prior": "obs"},
        {"learn": 0.2, "prior": "none"},
    ],
}
THETA, EPOCHS, CLIPS = 0.5, 2, 4000
ALLOCATIONS, ALLOCATION_THETA, SEEDS = ("learned", "uniform"), 0.9, (0, 1)
CONTROLS = {  # the third stage: each learner's penalty controls, around their current values
    "l0": {"GATE_GAIN": (3.0, 30.0)},
    "group-lasso": {"GL_RISE": (1.02, 1.1), "GL_START": (1e-5, 1e-3)},
}
SOFT_OPTIONS = (  # the fourth stage: soft-gm's allocation (PlanSpec.target) and phases, the current first
    {"target": "units", "phased": False},  # the paper's: soft pruning over every step, the hard cut at the end
    {"target": "uniform", "phased": False},
    {"target": "uniform", "phased": True, "learn": 0.2},  # soft over a share of the steps, cut, the cut trains on
    {"target": "uniform", "phased": True, "learn": 0.5},
)
TIE = 0.3  # GAP@20 points a new value's mean must gain over the current value's to replace it
ACROSS = [  # the fifth stage: (method, change) tried on Penn Treebank as well as on the sample, in order, each
    # against the method's setting after the entries before it
    ("group-lasso", {"prior": "obs"}),  # the shipped cut's ranking as where the thresholds start (tied on the sample)
    ("l0", {"travel": 0.1}),  # gates that move less from the prior
    ("l0", {"start": 6.0}),  # the prior's top gates start where the hard-concrete noise is small, its lowest at 2.4
    ("soft-gm", {"criterion": "obs"}),  # the shipped cut's ranking at every silencing instead of the paper's GM
    # l0 and group-lasso close their units over the learning steps (CLOSINGS times, each closing compensated, the
    # last at the cut; the entries above ran before the closings): the closings before the last compensated by the
    # means alone (the refit at each closing fits the model left by the one before), and closing only at the cut
    ("l0", {"between": "mean"}),
    ("group-lasso", {"closings": 1}),
    ("l0", {"closings": 1}),
]
GATES = {"travel": "GATE_TRAVEL", "start": "GATE_START"}  # l0's settings: constants
FIELDS = ("criterion", "closings", "between")  # settings that are fields of the method's LEARNERS entry
BEFORE = {  # what the first four stages ran with where their settings do not name it (soft-gm: and the fourth's share)
    "l0": {"start": 3.0, "closings": 4, "between": None},  # (closings: what the first entry of them started from)
    "group-lasso": {"closings": 4, "between": None},
    "soft-gm": {"prior": "none", "criterion": "gm"},
}
SIMPLER = {  # settings whose change makes a learner simpler: on a tie on both data sets the simpler one is taken
    "closings": lambda new, current: current is not None and new < current,  # fewer closings, one: only at the cut
}
PTB_THETAS, PTB_TIE = (0.5, 0.7), 2.0  # PTB_TIE: validation perplexity a one-seed mean must gain (about 1%)


def setup() -> dict:
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES

    calibration = str(audioset.AUDIOSET / "eval-00000-of-00004.tfrecord")
    return dict(
        budget=audioset.clips("bal_train-*", CLIPS),
        picked=audioset.validation_clips(),
        teacher=models.load_model(audioset.MODEL),
        stats=jobs.analyze.analyze(audioset.MODEL, calibration, batch_size=64, max_samples=REFIT_SAMPLES).statistics,
    )


@contextmanager
def overridden(method: str, setting: dict, constants: dict | None = None, entry: dict | None = None):
    """learners' LEARN and l0's constants (GATES) from `setting`, its module `constants` and fields of
    `method`'s LEARNERS `entry`, for the duration of one trial."""
    from dataclasses import replace

    from lstmprune_cli.framework.train import learners

    constants = {GATES[k]: v for k, v in setting.items() if k in GATES} | (constants or {})
    entry = {k: setting[k] for k in FIELDS if k in setting} | (entry or {})
    kept = {name: getattr(learners, name) for name in ["LEARN", *constants]}
    for name, value in ({"LEARN": setting["learn"]} | constants).items():
        setattr(learners, name, value)
    registered = learners.LEARNERS[method]
    learners.LEARNERS[method] = replace(registered, learn=None, **entry)  # LEARN is the setting's share
    try:
        yield
    finally:
        learners.LEARNERS[method] = registered
        for name, value in kept.items():
            setattr(learners, name, value)


def trial(
    data: dict,
    method: str,
    setting: dict,
    *,
    theta: float,
    allocation: str = "learned",
    seed: int = 0,
    constants: dict | None = None,
    spec=None,
    entry: dict | None = None,
) -> dict:
    """One setting trained, cut and scored on the validation clips; `constants`: learners' module constants
    (GATE_GAIN, GL_START, GL_RISE) set for this trial only; `spec`: soft-gm's rates and ranking; `entry`: fields of
    the method's LEARNERS entry (`phased`) for this trial only."""
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data.calibration import inputs_of
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES
    from lstmprune_cli.framework.train import learners
    from lstmprune_cli.framework.train.loop import evaluate

    task = Task("multilabel", 527)
    with overridden(method, setting, constants, entry):
        model = models.load_model(audioset.MODEL)
        start = time.perf_counter()
        batches = lambda: shuffled(*data["budget"], seed)  # noqa: E731
        found = learners.learn(
            model,
            method,
            batches,
            task,
            theta=theta,
            epochs=EPOCHS,
            steps_per_epoch=-(-len(data["budget"][0]) // audioset.RECIPE["batch"]),
            learning_rate=audioset.RECIPE["learning_rate"],
            schedule="cosine",
            teacher=data["teacher"],
            alpha=audioset.RECIPE["alpha"],
            compensate="refit",
            calibration=inputs_of(batches, REFIT_SAMPLES),
            prior=jobs.learn.prior_scores(model, data["stats"], setting["prior"]),
            seed=seed,
            allocation=None if method == "soft-gm" else allocation,
            statistics=data["stats"],
            spec=spec,
        )
    score = evaluate(found.model, shuffled(*data["picked"], 0, 512), task).metrics["gap@20"]
    row = {"method": method, **setting, "validation_gap@20": score}
    row["kept"] = {g.name: g.num_kept for g in found.plan.groups}
    return row | {"exact": found.record["exact"], "seconds": time.perf_counter() - start}


def search(m: Mode, stages: tuple[str, ...] = ("settings", "allocation", "controls")) -> dict:
    from .common import load

    data = setup()
    result = load(m, "learned_search") if "settings" not in stages else {}
    if "settings" in stages:
        rows = []
        for method, settings in GRID.items():
            for setting in settings:
                rows.append(trial(data, method, setting, theta=THETA))
                log("learned search", rows[-1])
        chosen = {method: max((r for r in rows if r["method"] == method), key=_score) for method in GRID}
        result = {"theta": THETA, "epochs": EPOCHS, "clips": CLIPS, "grid": GRID, "rows": rows, "chosen": chosen}
    if "allocation" in stages:
        result["allocation"] = allocation_stage(data, result["chosen"])
    if "controls" in stages:
        result["controls"] = controls_stage(data, result["chosen"], result["allocation"]["chosen"])
    if "soft" in stages:
        result["soft"] = soft_stage(data, None if "again" in stages else result.get("soft"))
    if "across" in stages:
        named = {m for m, _ in ACROSS if m in stages}  # `across again soft-gm`: only that method's entries
        result["across"] = across_stage(data, result, again=(named or True) if "again" in stages else False)
    save(m, "learned_search", result)
    return result


def allocation_stage(data: dict, chosen: dict) -> dict:
    """Each learner's allocation, chosen at ALLOCATION_THETA on the mean validation score over SEEDS."""
    rows = []
    for method, best in chosen.items():
        setting = {k: best[k] for k in ("learn", "prior", "travel") if k in best}
        for allocation in ALLOCATIONS:
            for seed in SEEDS:
                row = trial(data, method, setting, theta=ALLOCATION_THETA, allocation=allocation, seed=seed)
                rows.append(row | {"allocation": allocation, "seed": seed})
                log("learned allocation", rows[-1])
    means = {
        (method, a): float(np.mean([_score(r) for r in rows if r["method"] == method and r["allocation"] == a]))
        for method in chosen
        for a in ALLOCATIONS
    }
    picked = {method: max(ALLOCATIONS, key=lambda a, m=method: means[(m, a)]) for method in chosen}
    return {
        "theta": ALLOCATION_THETA,
        "seeds": list(SEEDS),
        "rows": rows,
        "means": {f"{m} {a}": v for (m, a), v in means.items()},
        "chosen": picked,
    }


def controls_stage(data: dict, chosen: dict, allocations: dict) -> dict:
    """The learners' penalty controls, one at a time around their current values, at ALLOCATION_THETA with each
    method's chosen setting and allocation; a value replaces the current one only if its mean over SEEDS beats the
    current value's by more than TIE points of GAP@20 (one-seed noise there is about half a point)."""
    from lstmprune_cli.framework.train import learners

    rows, picked, seen = [], {}, {}
    for method, grid in CONTROLS.items():
        best = chosen[method]
        setting = {k: best[k] for k in ("learn", "prior", "travel") if k in best}
        for name, values in grid.items():
            current = getattr(learners, name)
            means = {}
            for value in sorted({current, *values}):
                scores = []
                for seed in SEEDS:
                    if value == current and (method, seed) in seen:  # every control at its current value: one run
                        scores.append(seen[(method, seed)])
                        continue
                    row = trial(
                        data,
                        method,
                        setting,
                        theta=ALLOCATION_THETA,
                        allocation=allocations[method],
                        seed=seed,
                        constants={name: value},
                    )
                    rows.append(row | {"constant": name, "value": value, "seed": seed})
                    scores.append(_score(row))
                    if value == current:
                        seen[(method, seed)] = scores[-1]
                    log("learned controls", rows[-1])
                means[value] = float(np.mean(scores))
            top = max(means, key=means.get)
            picked[name] = top if means[top] > means[current] + TIE / 100 else current
            picked[f"{name} means"] = {str(v): m for v, m in means.items()}
            picked[f"{name} current"] = current
    return {"theta": ALLOCATION_THETA, "seeds": list(SEEDS), "tie": TIE, "rows": rows, "chosen": picked}


def soft_stage(data: dict, saved: dict | None = None) -> dict:
    """soft-gm's allocation and phases at ALLOCATION_THETA, mean over SEEDS; the current (first) option kept
    unless another gains more than TIE points. Rows of `saved` (the last run of this stage) for the same option
    and seed are kept, not run again."""
    from lstmprune_cli.core.plan import PlanSpec

    rows, means = [], {}
    for option in SOFT_OPTIONS:
        name = _soft_name(option)
        spec = PlanSpec.paper(ALLOCATION_THETA, target=option["target"])
        setting = {"learn": option.get("learn", 1.0), "prior": "none"}
        for seed in SEEDS:
            found = [r for r in (saved or {}).get("rows", []) if r.get("option", _soft_name(r)) == name]
            found = [r for r in found if r["seed"] == seed]
            if found:
                rows.append(found[0] | {"option": name})
                continue
            entry = {"phased": option["phased"]}
            row = trial(data, "soft-gm", setting, theta=ALLOCATION_THETA, seed=seed, spec=spec, entry=entry)
            rows.append(row | {"target": option["target"], "phased": option["phased"], "seed": seed, "option": name})
            log("soft-gm allocation", rows[-1])
        means[name] = float(np.mean([_score(r) for r in rows if r["option"] == name]))
    current = _soft_name(SOFT_OPTIONS[0])
    top = max(means, key=means.get)
    chosen = top if means[top] > means[current] + TIE / 100 else current
    return {"theta": ALLOCATION_THETA, "seeds": list(SEEDS), "tie": TIE, "rows": rows, "means": means, "chosen": chosen}


def across_stage(data: dict, result: dict, again: bool | set = False) -> dict:
    """Each ACROSS entry against the method's current setting, on the sample (ALLOCATION_THETA, mean over SEEDS,
    validation clips) and on Penn Treebank (PTB_THETAS, seed 0, part 2's budget of one epoch, perplexity on the
    valid windows that no best-epoch choice read). The new setting is taken if it gains beyond the tie on one and
    loses no more than the tie on the other (TIE GAP@20 points; PTB_TIE perplexity). Entries already saved are
    kept (`again`: all run again, or a set of methods: their entries)."""
    saved = {} if again is True else result.get("across", {})
    rows, chosen = [], {}
    for method, change in ACROSS:
        best = result["chosen"].get(method) or _soft_chosen(result["soft"])  # soft-gm: the fourth stage's
        current = BEFORE.get(method, {}) | {k: best[k] for k in ("learn", "prior", "travel") if k in best}
        for earlier in chosen.values():  # the changes of entries before this one that were taken
            current |= earlier["change"] if earlier["method"] == method and earlier["taken"] else {}
        label = f"{method}: " + ", ".join(f"{k} {v}" for k, v in change.items())
        old = saved.get("chosen", {})  # entries saved before, by label (or, as first saved, by method)
        first = old.get(method, {}).get("change") == change  # saved under the method's name
        found = label if label in old else method if first else None
        if found and not (isinstance(again, set) and method in again):
            chosen[label] = {"method": method, **old[found]}
            before = [r for r in saved["rows"] if r.get("entry", r["method"]) == found and r["setting"] == "current"]
            chosen[label]["taken"] = taken(old[found]["gain"], change, before[0] if before else current)
            rows += [r | {"entry": label} for r in saved["rows"] if r.get("entry", r["method"]) == found]
            continue
        entry, means = _across_trials(data, result, method, current, change)
        rows += [r | {"entry": label} for r in entry]
        chosen[label] = {"method": method, "change": change, **means}
    return {
        "seeds": list(SEEDS),
        "ptb_thetas": list(PTB_THETAS),
        "tie": TIE,
        "ptb_tie": PTB_TIE,
        "rows": rows,
        "chosen": chosen,
    }


def _across_trials(data: dict, result: dict, method: str, current: dict, change: dict) -> tuple[list, dict]:
    """One ACROSS entry's trials, the current setting and the changed one: rows, and means, gain and whether the
    change is taken."""
    from . import learned

    if "language" not in data:
        data["language"] = learned.ptb_data(mode("full"))
    language = data["language"]
    allocation = result["allocation"]["chosen"].get(method, "learned")  # soft-gm: its registered rates
    rows, means = [], {}
    for name, setting in (("current", current), ("new", current | change)):
        for seed in SEEDS:
            row = trial(data, method, setting, theta=ALLOCATION_THETA, allocation=allocation, seed=seed)
            rows.append(row | {"data": "audioset", "setting": name, "seed": seed, "theta": ALLOCATION_THETA})
            log("learned across", rows[-1])
        for theta in PTB_THETAS:
            at_cut = lambda model: learned.ptb_score(language, model, language["unpicked"])  # noqa: E731
            with overridden(method, setting):
                found, seconds = learned.ptb_learn(
                    language, method, theta=theta, seed=0, epochs=1, prior=setting["prior"], at_cut=at_cut
                )
            score = learned.ptb_score(language, found.model, language["unpicked"])
            kept = {g.name: g.num_kept for g in found.plan.groups}
            row = {"method": method, **setting, "validation_perplexity": score, "kept": kept, "seconds": seconds}
            row["validation_perplexity_at_cut"] = found.record["at_cut"]
            rows.append(row | {"data": "ptb", "setting": name, "seed": 0, "theta": theta})
            log("learned across", rows[-1])
        ours = [r for r in rows if r["setting"] == name]
        means[name] = {
            "audioset": float(np.mean([_score(r) for r in ours if r["data"] == "audioset"])),
            "ptb": float(np.mean([r["validation_perplexity"] for r in ours if r["data"] == "ptb"])),
        }
    gain = {  # the new setting's gain: GAP@20 points, perplexity
        "audioset": 100 * (means["new"]["audioset"] - means["current"]["audioset"]),
        "ptb": means["current"]["ptb"] - means["new"]["ptb"],
    }
    return rows, {"means": means, "gain": gain, "taken": taken(gain, change, current)}


def taken(gain: dict, change: dict, current: dict) -> bool:
    """Whether a change replaces the current setting: it gains beyond the tie on one data set and loses no more than
    the tie on the other, or it ties on both and is the simpler (SIMPLER)."""
    better = (gain["ptb"] > PTB_TIE and gain["audioset"] >= -TIE) or (
        gain["audioset"] > TIE and gain["ptb"] >= -PTB_TIE
    )
    tied = abs(gain["ptb"]) <= PTB_TIE and abs(gain["audioset"]) <= TIE
    simpler = all(k in SIMPLER and SIMPLER[k](v, current.get(k)) for k, v in change.items())
    return bool(better or (tied and simpler))


def _soft_chosen(soft: dict) -> dict:
    """The learning share of the fourth stage's choice (a phased option: the across stage runs soft-gm phased)."""
    option = next(o for o in SOFT_OPTIONS if _soft_name(o) == soft["chosen"])
    if not option["phased"] or option["target"] != "uniform":
        raise SystemExit(f"the across stage runs soft-gm phased with uniform rates; the fourth chose {soft['chosen']}")
    return {"learn": option["learn"]}


def _soft_name(option: dict) -> str:
    """`units`, `uniform`, `uniform, phased 0.2`: an option of soft-gm's stage as the document names it."""
    phased = option.get("phased", False)
    return option["target"] + (f", phased {option.get('learn', 1.0)}" if phased else "")


def _score(row: dict) -> float:
    return row["validation_gap@20"]


if __name__ == "__main__":
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    search(mode("full"), tuple(sys.argv[1:]) or ("settings", "allocation", "controls"))
