"""Part: structures learned while training (ISS-L0, ISS-GL, soft GM) on the AudioSet sample, beside the default.

Each learned row trains the shipped sample with `lstmprune learn` for LEARN epochs (l0 and group-lasso learn over
a share of those steps, are cut, and the cut trains over the rest), then is fine-tuned like a one-shot cut for
TUNE more epochs. The default one-shot cut (uniform + OBS + refit) and the unpruned model are fine-tuned in the
same run for LEARN + TUNE epochs (`compare.run`, its start trial counted), on the same clips, with the same
teacher, validation and schedule. The long budget gives the learners and the default FACTOR times as many.

    python -m bench.learned soft-gm    # only these methods' rows again, the others kept (a change to them alone)
    python -m bench.learned --ptb      # only the Penn Treebank rows with part 2's budget, the long ones kept
    python -m bench.learned --ptb l0   # only these methods' Penn Treebank rows with part 2's budget
    python -m bench.learned --ptb-long # only the long-budget Penn Treebank rows (`--ptb-long soft-gm`: only its row)
"""

from __future__ import annotations

import time

from . import audioset, ptb
from .common import AUDIOSET, Mode, load, log, save, shuffled

LEARN, TUNE = 2, 3  # epochs of `learn`, then of fine-tuning the cut: part 1's 5 in all
METHODS = ("l0", "group-lasso", "soft-gm")
DEFAULT = "default (uniform + OBS + refit)"
SIZES = {
    "quick": dict(budget=1000, evaluate=2000, thetas=(0.7,), seeds=(0,), long=None),
    "full": dict(budget=4000, evaluate=None, thetas=(0.5, 0.9), seeds=(0, 1, 2), long=dict(theta=0.9, factor=4)),
}


def part(mode: Mode) -> dict:
    size = SIZES[mode.name]
    data, recipe, shape = _setup(mode)
    rows, _ = audioset.compare_on_audioset(audioset.MODEL, shape, recipe, (DEFAULT,), size["seeds"])
    rows += [_learned_row(m, t, s, data, LEARN, TUNE) for t in size["thetas"] for m in METHODS for s in size["seeds"]]
    long = []
    if size["long"]:
        theta, factor = size["long"]["theta"], size["long"]["factor"]
        longer = {**recipe, "epochs": factor * (LEARN + TUNE)}
        found, _ = audioset.compare_on_audioset(audioset.MODEL, {**shape, "thetas": (theta,)}, longer, (DEFAULT,), (0,))
        long = [r for r in found if r["method"] == DEFAULT]
        long += [_learned_row(m, theta, 0, data, factor * LEARN, factor * TUNE) for m in METHODS]
    result = {"size": size, "learn_epochs": LEARN, "tune_epochs": TUNE, "phases": _phases(), "rows": rows}
    result["long"] = {"factor": size["long"] and size["long"]["factor"], "rows": long}
    result["ptb"] = on_ptb(mode) if mode.quick else _kept_ptb(mode)  # full: `--only learned-ptb` runs them
    save(mode, "learned", result)
    return result


def rerun(mode: Mode, methods: tuple[str, ...]) -> dict:
    """`python -m bench.learned METHOD...`: only these methods' rows run again (equal and long budget), the
    others kept from the saved part; `rerun` records which and when. For a change that touches these methods
    alone."""
    saved = load(mode, "learned")
    if not saved:
        raise SystemExit("no saved learned part to rerun rows of: run `python -m bench.run --only learned`")
    size = SIZES[mode.name]
    data, _, _ = _setup(mode)
    kept = [r for r in saved["rows"] if r["method"] not in methods]
    rows = kept + [
        _learned_row(m, t, s, data, LEARN, TUNE) for t in size["thetas"] for m in methods for s in size["seeds"]
    ]
    long = dict(saved["long"])
    if size["long"]:
        theta, factor = size["long"]["theta"], size["long"]["factor"]
        long["rows"] = [r for r in long["rows"] if r["method"] not in methods]
        long["rows"] += [_learned_row(m, theta, 0, data, factor * LEARN, factor * TUNE) for m in methods]
    when = time.strftime("%Y-%m-%d %H:%M")
    rerun = {**saved.get("rerun", {}), **{m: when for m in methods}}
    latest = load(mode, "learned")  # read as it ends: `--only learned-ptb` may have saved its rows meanwhile
    result = {k: v for k, v in latest.items() if k not in ("mode", "written")}
    result |= {"rows": rows, "long": long, "phases": _phases(), "rerun": rerun}
    result["rerun_from"] = saved.get("rerun_from") or saved["written"]
    save(mode, "learned", result)
    return result


def _setup(mode: Mode) -> tuple[dict, dict, dict]:
    """The part's data (statistics, clips, teacher), the default's recipe and the compare shape."""
    from lstmprune_cli.framework import jobs, models

    size = SIZES[mode.name]
    calibration = AUDIOSET / "eval-00000-of-00004.tfrecord"
    stats = jobs.analyze.analyze(audioset.MODEL, str(calibration), batch_size=64).statistics  # rates and priors
    budget = audioset.clips("bal_train-*", size["budget"])
    held = audioset.clips("eval-0000[1-3]-*", size["evaluate"])
    steps = -(-len(budget[0]) // audioset.RECIPE["batch"])
    recipe = dict(epochs=LEARN + TUNE, learning_rate=audioset.RECIPE["learning_rate"], schedule="cosine")
    recipe |= dict(steps_per_epoch=steps, alpha=audioset.RECIPE["alpha"])  # as part 1 fine-tunes
    shape = dict(stats=None, budget=size["budget"], evaluate=size["evaluate"], thetas=size["thetas"])
    data = dict(stats=stats, budget=budget, held=held, picked=audioset.validation_clips())
    data["teacher"] = models.load_model(audioset.MODEL)
    return data, recipe, shape


def _phases() -> dict:
    """How the learners ran: their learning share, prior, gate travel and compensation."""
    from lstmprune_cli.framework.train import learners

    priors = {m: learners.LEARNERS[m].prior for m in METHODS[:2]}
    allocations = {m: learners.LEARNERS[m].allocation for m in METHODS[:2]}
    between = {m: learners.LEARNERS[m].between or "as the cut" for m in METHODS[:2]}
    found = {
        "between": between,
        "learn": learners.LEARN,
        "travel": learners.GATE_TRAVEL,
        "prior": priors,
        "compensate": "refit",
    }
    found |= {
        "shares": {m: learners.learning_share(m) for m in METHODS[:2]},
        "closings": {m: learners.LEARNERS[m].closings for m in METHODS[:2]},
    }
    entry = learners.LEARNERS["soft-gm"]
    soft = {"allocation": entry.allocation, "phased": entry.phased, "prunes": learners.SOFT_PRUNES}
    share = learners.learning_share("soft-gm")
    soft |= {"criterion": entry.criterion, "silencing": "compensated", "learn": share}  # silencings as the cut (refit)
    soft["last_at_cut"] = True  # the last silencing at the end of the learning phase: the cut removes those
    return found | {"allocation": allocations, "soft-gm": soft}


def _learned_row(method, theta, seed, data: dict, learn_epochs, tune_epochs) -> dict:
    """`learn` for learn_epochs (the prior from the statistics), then fine-tuning for tune_epochs: one row. data:
    the part's statistics, clips (budget, held, picked) and teacher, read once."""
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data.calibration import inputs_of
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES
    from lstmprune_cli.framework.train.learners import LEARNERS, learn
    from lstmprune_cli.framework.train.loop import evaluate, fit

    task = Task("multilabel", 527)
    stats, budget, held, picked, teacher = (data[k] for k in ("stats", "budget", "held", "picked", "teacher"))
    steps = -(-len(budget[0]) // audioset.RECIPE["batch"])
    common = dict(learning_rate=audioset.RECIPE["learning_rate"], schedule="cosine", teacher=teacher)
    common["alpha"] = audioset.RECIPE["alpha"]

    def score(model) -> dict:
        found = evaluate(model, shuffled(*held, 0, 512), task).metrics
        return {"gap@20": found["gap@20"], "map": found["map"]}

    model = models.load_model(audioset.MODEL)
    prior = jobs.learn.prior_scores(model, stats, LEARNERS[method].prior or "none")
    found = learn(
        model,
        method,
        lambda: shuffled(*budget, seed),
        task,
        theta=theta,
        statistics=stats,
        epochs=learn_epochs,
        steps_per_epoch=steps,
        seed=seed,
        compensate="refit",  # as `lstmprune learn` does by default, on the first training clips
        calibration=inputs_of(lambda: shuffled(*budget, seed), REFIT_SAMPLES),
        prior=prior,
        at_cut=score,  # right after the cut, compensated, before the cut trains
        **common,
    )
    learned = found.record["seconds"]  # at_cut's scoring not counted
    after_learn = score(found.model)
    start = time.perf_counter()
    fit(
        found.model,
        lambda: shuffled(*budget, seed),
        task,
        epochs=tune_epochs,
        steps_per_epoch=steps,
        validation=lambda: shuffled(*picked, 0, 512),
        **common,
    )
    tuned = score(found.model)
    row = {
        "method": method,
        "theta": theta,
        "seed": seed,
        "kept": {g.name: g.num_kept for g in found.plan.groups},
        "params": found.model.count_params(),
        "cut": found.record["at_cut"],
        "after_learn": after_learn,
        "tuned": tuned,
        "epochs": learn_epochs + tune_epochs,
        "seconds_per_learning_epoch": learned / learn_epochs,
        "seconds_per_tuning_epoch": (time.perf_counter() - start) / tune_epochs,
        "exact": found.record["exact"],
        "removed_alive": found.record["removed_alive"],
        **at_the_cut(found),
    }
    log(method, theta, seed, row["kept"], row["cut"], tuned, f"{learned:.0f} s learning")
    return row


def at_the_cut(found) -> dict:
    """How many of the units the cut removed still carried weight when it was made (the learner had not zeroed or
    closed them; the compensation absorbs them), and how many it removed."""
    cut = found.record.get("cut", {})
    closings = {"closings": found.record["closings"]} if "closings" in found.record else {}  # step, units closed
    return {"alive_at_cut": cut.get("removed_alive"), "removed_units": cut.get("removed"), **closings}


def _kept_ptb(mode: Mode) -> dict | None:
    """The saved Penn Treebank rows: `--only learned-ptb` runs them alone (they need part 2's base model)."""
    saved = load(mode, "learned")
    if not saved or not saved.get("ptb"):
        return None
    log("learned: the saved Penn Treebank rows are kept (`--only learned-ptb` reruns them)")
    return saved["ptb"]


PTB_LONG = dict(theta=0.7, factor=4)  # the long budget on PTB: 4 epochs, seed 0, where the one-shot cut loses most


def ptb_part(mode: Mode) -> dict:
    """`--only learned-ptb`: the Penn Treebank rows of this part (the equal budget and the long one), run alone
    and saved beside its AudioSet rows."""
    found = on_ptb(mode)
    found["long"] = on_ptb_long(mode)
    _save_ptb(mode, found)
    return found


def ptb_long_part(mode: Mode, methods: tuple[str, ...] = ()) -> dict:
    """`python -m bench.learned --ptb-long [METHOD...]`: only the long-budget PTB rows (of these methods, the other
    rows kept, the default's among them), the equal-budget ones kept."""
    saved = _saved_ptb(mode)
    long = on_ptb_long(mode, methods)
    if methods:
        before = saved.get("long") or {}
        if before.get("base") != long["base"]:
            raise SystemExit(
                f"the saved long-budget Penn Treebank rows come from another training of the base model "
                f"({before.get('base')}); rerun them all with `python -m bench.learned --ptb-long`"
            )
        long["rows"] = [r for r in before["rows"] if r["method"] not in methods] + long["rows"]
        long["rerun"] = {**before.get("rerun", {}), **{m: long["written"] for m in methods}}
        long["written"] = before.get("written", long["written"])  # the other rows' run
    found = {**saved, "long": long}
    _save_ptb(mode, found)
    return found


def ptb_equal_part(mode: Mode, methods: tuple[str, ...] = ()) -> dict:
    """`python -m bench.learned --ptb [METHOD...]`: only the equal-budget PTB rows (of these methods, the other
    methods' kept), the long-budget ones kept."""
    saved = _saved_ptb(mode)
    if methods and saved.get("base") != ptb.base_digest(mode):
        raise SystemExit(
            f"the saved Penn Treebank rows come from another training of the base model ({saved.get('base')}); "
            "rerun them all with `python -m bench.learned --ptb`"
        )
    found = on_ptb(mode, methods=methods or METHODS, references=not methods)
    if methods:
        found["rows"] = [r for r in saved["rows"] if r["method"] not in methods] + found["rows"]
        found["rerun"] = {**saved.get("rerun", {}), **{m: found["written"] for m in methods}}
        found["rerun_from"] = saved.get("rerun_from") or saved["written"]
    _save_ptb(mode, found | {"long": saved.get("long")})
    return found


def _saved_ptb(mode: Mode) -> dict:
    saved = (load(mode, "learned") or {}).get("ptb")
    if not saved:
        raise SystemExit("no saved learned PTB rows: run `python -m bench.run --only learned-ptb`")
    return saved


def _save_ptb(mode: Mode, found: dict) -> None:
    saved = load(mode, "learned") or {}  # read as it ends: another rerun may have saved rows meanwhile
    save(mode, "learned", {k: v for k, v in saved.items() if k not in ("mode", "written")} | {"ptb": found})


def on_ptb_long(mode: Mode, methods: tuple[str, ...] = ()) -> dict:
    """The three methods (or these, without the default) and the default at PTB_LONG's theta with `factor` epochs
    each (seed 0), the default's start trial counted; quick: one epoch."""
    theta, factor = PTB_LONG["theta"], PTB_LONG["factor"] if not mode.quick else 1
    chosen = dict(methods=methods, references=False) if methods else {}
    rows = on_ptb(mode, thetas=(theta,), seeds=(0,), epochs=factor, **chosen)["rows"]  # the default's among them
    written = time.strftime("%Y-%m-%d %H:%M")
    return {"theta": theta, "factor": factor, "rows": rows, "base": ptb.base_digest(mode), "written": written}


def on_ptb(mode: Mode, thetas=None, seeds=None, epochs: int = 1, methods=METHODS, references: bool = True) -> dict:
    """The learned methods on part 2's language model with part 2's budget and seeds (or these): `epochs` over its
    fine-tuning windows, all of it `learn` with its defaults (each method learns over a share of it, is cut and
    compensated as `learn` does by default, and the cut trains over the rest); perplexity on valid and test.
    `references`: the default one-shot cut's rows with the same budget, in the same run on the same base model."""
    data = ptb_data(mode)
    size = ptb.SIZES[mode.name]
    rows = []
    for theta in thetas or size["thetas"]:
        for method in methods:
            for seed in seeds or size["seeds"]:
                held = lambda model: {s: ptb_score(data, model, xy) for s, xy in data["held"].items()}  # noqa: E731
                found, seconds = ptb_learn(data, method, theta=theta, seed=seed, epochs=epochs, at_cut=held)
                scored = held(found.model)
                row = {
                    "method": method,
                    "theta": theta,
                    "seed": seed,
                    "kept": {g.name: g.num_kept for g in found.plan.groups},
                    "params": found.model.count_params(),
                    "cut": found.record["at_cut"],  # right after the cut, compensated, before it trains
                    "tuned": scored,
                    "seconds_per_learning_epoch": seconds / epochs,
                    "seconds": seconds,
                    "exact": found.record["exact"],
                    "removed_alive": found.record["removed_alive"],
                    **at_the_cut(found),
                }
                rows.append(row)
                log("ptb", method, theta, seed, row["kept"], scored, f"{seconds:.0f} s")
    if references:
        rows += ptb.defaults(mode, thetas or size["thetas"], seeds or size["seeds"], epochs)
    found = {"rows": rows, "budget_windows": len(data["budget"][0]), "base": ptb.base_digest(mode)}
    return found | {"written": time.strftime("%Y-%m-%d %H:%M")}


PICKED = 1000  # part 2's validation windows (the last of valid): the best epoch of the cut's training


def ptb_data(mode: Mode) -> dict:
    """Part 2's language model, its statistics, fine-tuning windows, held-out splits and the PICKED windows."""
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import jobs

    size = ptb.SIZES[mode.name]
    path = ptb.base(mode)
    options = Options(vocab=str(ptb.vocabulary()))
    stats = jobs.analyze.analyze(
        path, str(ptb.PTB / "ptb.train.txt"), options, max_samples=size["stats"], every_step=True
    ).statistics
    train = ptb.windows("train")
    valid = ptb.windows("valid")
    return dict(
        path=path,
        stats=stats,
        budget=(train[0][-size["budget"] :], train[1][-size["budget"] :]),
        held={split: ptb.windows(split, size["evaluate"]) for split in ("valid", "test")},
        picked=(valid[0][-PICKED:], valid[1][-PICKED:]),
        unpicked=(valid[0][:-PICKED], valid[1][:-PICKED]),  # validation for a search: never a best-epoch choice
    )


def ptb_learn(data: dict, method: str, *, theta: float, seed: int, epochs: int, prior: str | None = None, at_cut=None):
    """`learn` on part 2's model with its defaults (or this prior), its cut's best epoch on the picked windows:
    the Learned and the seconds it took. at_cut: as `learn`'s."""
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data.calibration import inputs_of
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.train.learners import LEARNERS, learn

    model = models.load_model(data["path"])
    budget = data["budget"]
    scores = jobs.learn.prior_scores(model, data["stats"], prior or LEARNERS[method].prior or "none")
    found = learn(
        model,
        method,
        lambda: shuffled(*budget, seed, 64),
        Task("lm", 10_000),
        theta=theta,
        statistics=data["stats"],
        epochs=epochs,
        steps_per_epoch=-(-len(budget[0]) // 64),
        learning_rate=1e-3,
        seed=seed,
        compensate="refit",  # as `lstmprune learn` does by default, on the first training windows
        calibration=inputs_of(lambda: shuffled(*budget, seed, 64), ptb.REFIT_WINDOWS),
        prior=scores,
        validation=lambda: shuffled(*data["picked"], 0, 256),
        at_cut=at_cut,
    )
    return found, found.record["seconds"]  # at_cut's scoring not counted


def ptb_score(data: dict, model, windows: tuple) -> float:
    """The perplexity of `model` on (x, y) windows."""
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.train.loop import evaluate

    return evaluate(model, shuffled(*windows, 0, 256), Task("lm", 10_000)).metrics["perplexity"]


if __name__ == "__main__":
    import sys

    from lstmprune_cli.framework import import_tensorflow

    from .common import mode

    if sys.argv[1:2] == ["--ptb"] and not set(sys.argv[2:]) - set(METHODS):
        import_tensorflow()
        ptb_equal_part(mode("full"), tuple(sys.argv[2:]))
        raise SystemExit(0)
    if sys.argv[1:2] == ["--ptb-long"] and not set(sys.argv[2:]) - set(METHODS):
        import_tensorflow()
        ptb_long_part(mode("full"), tuple(sys.argv[2:]))
        raise SystemExit(0)
    unknown = set(sys.argv[1:]) - set(METHODS)
    if not sys.argv[1:] or unknown:
        usage = f"python -m bench.learned {' '.join(METHODS)} (any of them) | --ptb|--ptb-long [METHOD...]"
        raise SystemExit(f"usage: {usage}; received {sys.argv[1:]}")
    import_tensorflow()
    rerun(mode("full"), tuple(sys.argv[1:]))
