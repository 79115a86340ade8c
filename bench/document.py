"""docs/benchmarks.md from the parts' result files: tables, plots, commands and where we lose."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

from . import compare, quantize
from .common import ROOT, Mode, axes, load, save_plot

DEFAULT = "default (uniform + OBS + refit)"  # the cut `lstmprune prune` ships, tuned as `finetune` does
REFERENCES = ("ISS-GM", DEFAULT)  # each is tallied against every other method
OTHER_SIZE = {"default, FLOPs budget"}  # theta is a share of another measure: not the same size, not tallied


def _taught(recipe: dict) -> str:
    """How the fine-tuning learns: labels only, or distilled from the original as `finetune` does."""
    alpha = recipe.get("alpha")
    return f"distilled from the original with alpha {alpha:g}, as `lstmprune finetune` does" if alpha else "labels only"


def _pm(cell: tuple[float, float], scale: float = 1.0, digits: int = 2) -> str:
    mean, spread = cell
    shown = f"{spread * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {shown}" if float(shown) else f"{mean * scale:.{digits}f}"  # no "± 0.00"


def _kept(kept: dict) -> str:
    return " / ".join(str(v) for v in kept.values())


def machine() -> str:
    from importlib.metadata import version

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GB, no GPU; "
        f"Python {platform.python_version()}, TensorFlow {version('tensorflow')}"
    )


TIE = 0.3  # GAP@20 points: a difference of one seed's rows under this is a tie (the 3-seed spreads reach 0.3)
PTB_TIE = 2.0  # test perplexity: likewise (about 1% of the perplexities compared)


def comparison(
    rows: list[dict], metric: str, label: str, scale: float, digits: int, higher: bool, plot: Path, tie: float
):
    """One experiment's table (mean ± spread per method and theta), its plot, and each reference's outcomes.

    Outcomes, by reference: (method, stage, +1 ahead / 0 tied / -1 behind, text). Tied: the means differ by no
    more than the two standard deviations added, or, where a cell has one seed, by less than `tie` (the metric's
    units).
    """
    cells = compare.summary(rows, metric)
    plot_comparison(cells, label, scale, plot)
    group_names = list(cells[0]["kept"])
    lines = [
        f"| theta | method | kept {' / '.join(group_names)} | params | right after the cut | after fine-tuning |",
        "|---|---|---|---|---|---|",
    ]
    for c in cells:
        theta = "0 (unpruned)" if c["method"] == "unpruned" else c["theta"]
        cut = _pm(c["cut"], scale, digits)
        lines.append(
            f"| {theta} | {c['method']} | {_kept(c['kept'])} | {c['params'] / 1e6:.2f}M | {cut} | "
            f"{_pm(c['tuned'], scale, digits)} |"
        )
    lines += [
        "",
        "At a theta every method removes about the same number of units (the layer-mean target: the same mean of the",
        "group rates instead); parameter counts differ, because a unit of a wide-input layer carries more weights.",
    ]
    sign = 1 if higher else -1
    outcomes = {}
    by = {(c["theta"], c["method"]): c for c in cells}
    for reference in REFERENCES:
        found = outcomes.setdefault(reference, [])
        for (theta, method), c in by.items():
            if method in ("unpruned", reference) or (theta, reference) not in by or method in OTHER_SIZE:
                continue
            ours = by[(theta, reference)]
            for stage in ("cut", "tuned"):
                (a, sa), (b, sb) = ours[stage], c[stage]
                lead = sign * (a - b)
                margin = sa + sb if min(ours["seeds"], c["seeds"]) > 1 else tie
                outcome = 0 if abs(lead) <= margin else (1 if lead > 0 else -1)
                where = "right after the cut" if stage == "cut" else "after fine-tuning"
                text = f"theta {theta}, {where}: {reference} {a * scale:.{digits}f} vs {method} {b * scale:.{digits}f}"
                found.append((method, stage, outcome, text))
    return cells, lines, outcomes


def tally(outcomes: list, reference: str) -> list[str]:
    """Per other method and stage: thetas where `reference` is ahead / tied / behind; each loss spelled out."""
    lines = [
        "| against | right after the cut: ahead / tied / behind | after fine-tuning: ahead / tied / behind |",
        "|---|---|---|",
    ]
    for method in dict.fromkeys(m for m, _, _, _ in outcomes):
        cells = []
        for stage in ("cut", "tuned"):
            found = [o for m, s, o, _ in outcomes if m == method and s == stage]
            cells.append(" / ".join(str(found.count(o)) for o in (1, 0, -1)))
        lines.append(f"| {method} | {cells[0]} | {cells[1]} |")
    lines += ["", f"Where {reference} is behind (beyond the spreads, or the tie threshold with one seed):", ""]
    lines += [f"- {text}" for _, _, o, text in outcomes if o < 0] or ["- nowhere in this run"]
    return lines


def plot_comparison(cells: list[dict], metric_name: str, scale: float, path: Path) -> None:
    fig, ax = axes(9)

    base = [c for c in cells if c["method"] == "unpruned"]
    if base:
        ax.axhline(base[0]["tuned"][0] * scale, color="black", lw=1, label="unpruned, same fine-tuning")
        ax.axhline(base[0]["cut"][0] * scale, color="black", lw=1, ls=":", label="unpruned, as trained")
    for i, method in enumerate(compare.METHODS):
        rows = sorted((c for c in cells if c["method"] == method), key=lambda c: c["theta"])
        if not rows:
            continue
        theta = np.array([c["theta"] for c in rows]) + (i - 2.5) * 0.006
        for stage, style in (("tuned", "o-"), ("cut", "x:")):
            mean = [c[stage][0] * scale for c in rows]
            spread = [c[stage][1] * scale for c in rows]
            label = f"{method}, fine-tuned" if stage == "tuned" else None
            ax.errorbar(theta, mean, spread, fmt=style, color=f"C{i}", capsize=2, label=label, ms=4)
    save_plot(fig, ax, path, "theta (share of units removed); dotted: right after the cut", metric_name, 7, "outside")


def audioset_section(r: dict, out: Path) -> tuple[list[str], list]:
    _, table, outcomes = comparison(r["rows"], "gap@20", "GAP@20 (%)", 100, 2, True, out / "audioset.png", TIE / 100)
    size, clips = r["size"], r["clips"]
    recipe = r.get("recipe", dict(epochs=1, learning_rate=1e-3, schedule="constant", batch=64))
    lines = [
        "## 1. The YouTube-8M experiment in miniature (paper Table II), AudioSet",
        "",
        "`python -m bench.run --only audioset`. The shipped sample (Masking -> Bidirectional(LSTM 128) -> LSTM 256 ->",
        f"Dense(527, sigmoid), 10 frames x 128). Statistics from {clips['calibration']:,} clips of `eval-00000`;",
        "every model, the unpruned one included, is then fine-tuned for the same budget:",
        f"{recipe['epochs']} epochs over {clips['train']:,} clips of `bal_train-*` (Adam {recipe['learning_rate']:g},",
        f"{recipe['schedule']} schedule, batch {recipe['batch']}, {_taught(recipe)}). GAP@20 (%) on",
        f"{clips['eval']:,} clips of `eval-00001..3`, mean ± standard deviation over seeds {list(size['seeds'])}.",
        "A seed sets the fine-tuning order and the random baseline's draw; the base model is the same for all",
        "(the spread does not cover retraining it). Removed units' means are folded into the next biases for every",
        "method alike, unless the method refits them. Methods (this run's are in the table): ISS-GM (paper",
        "rates with the units target, geometric-median units); L2-norm units (paper rates, other units); uniform",
        "rates (every group at theta, geometric-median units); and the default of `lstmprune prune`: uniform",
        "rates, OBS units, consumers and recurrent kernels refitted on the calibration data (`--compensate",
        "refit`), also with a FLOPs budget (`--budget flops`: a bigger model at the same theta, so not tallied",
        "against the others). A refitted cut is fine-tuned as `lstmprune finetune --val` does by default",
        "(`--start auto`: the first batches from the refitted weights and from the same units with the original's",
        f"own weights, the lower loss on {clips.get('validation', 0):,} validation clips of `eval-00000` beyond",
        "those the refits read goes on; the trial counts against the budget, a whole epoch from each start of",
        "five, so the start that goes on trains four in all; the same clips choose every model's best epoch); the",
        "row *tuned from the refit* always takes the first (`--start pruned`). The measured allocations are in the",
        "cuts part. The paper's",
        "other baselines (random units, the layer-mean target, the inverted rule) were measured in earlier",
        "versions of this document and lost to uniform rates at every theta (the cuts part: right after the cut).",
        "",
        *table,
        "",
        "![GAP@20 against theta](audioset.png)",
        "",
    ]
    return lines, outcomes


def _rerun_note(r: dict, command: str) -> list[str]:
    """Which rows of a part were rerun alone, when, and where the others come from."""
    if not r.get("rerun"):
        return []
    rows = ", ".join(f"{m} on {when}" for m, when in r["rerun"].items())
    since = r["rerun_from"]
    return [f"Rerun alone after a change to them (`{command}`): {rows}; the other rows are from the run of {since}."]


def _starts_chosen(rows: list[dict]) -> list[str]:
    """The starts `--start auto` chose, per row of the table (rows it judged: both starts tried)."""
    judged: dict[tuple, list[str]] = {}
    for row in rows:
        if row.get("start") in ("rewound", "pruned") and not row["method"].endswith("tuned from the refit"):
            judged.setdefault((row["method"], row["theta"]), []).append(row["start"])
    if not judged:
        return []
    named = {"pruned": "the refit", "rewound": "rewound"}
    chosen = "; ".join(
        f"{m} at {t}: " + ", ".join(f"{named[s]} {starts.count(s)}x" for s in sorted(set(starts)))
        for (m, t), starts in judged.items()
    )
    return [f"The start `--start auto` went on with, over the seeds: {chosen}.", ""]


def ptb_section(r: dict, out: Path) -> tuple[list[str], list]:
    cells, table, outcomes = comparison(r["rows"], "test", "test perplexity", 1, 1, False, out / "ptb.png", PTB_TIE)

    valid = {(c["theta"], c["method"]): c for c in compare.summary(r["rows"], "valid")}
    size, w = r["size"], r["windows"]

    lines = [
        "## 2. The Penn Treebank experiment (paper Table I)",
        "",
        "`python -m bench.run --only ptb`. Embedding -> LSTM -> LSTM -> Dense(10,000, softmax), "
        f"{size['hidden']} units per layer",
        f"(the paper's is 1500), trained here for {size['epochs']} epoch(s) over "
        f"{size['base_windows'] or w['train']:,} windows of 35 words",
        "(Adam 2e-3, clipnorm 5, batch 32, initialised uniform ±0.1 as Zaremba et al.); windows are independent",
        "(the state is not carried across them), which costs",
        f"perplexity against the paper's stateful models. Statistics from {r['statistics_samples']:,} time steps;",
        f"fine-tuning budget: one epoch over {size['budget']:,} windows (Adam 1e-3); refitted cuts start as",
        "`lstmprune finetune --val` does (`--start auto`: a quarter of the epoch from the refitted weights and a",
        "quarter from the rewound ones, judged on 1,000 validation windows, the lower going on for the rest of",
        "the epoch, so the trial is inside the budget), or from the refit (*tuned from the refit*). Test perplexity",
        f"({w['test']:,} windows); validation perplexity below. "
        + (
            f"Mean ± standard deviation over {len(size['seeds'])} seeds (the order of the fine-tuning windows)."
            if len(size["seeds"]) > 1
            else f"One seed: a difference under {PTB_TIE} is a tie."
        ),
        *_rerun_note(r, "python -m bench.ptb METHOD"),
        "",
        *table,
        "",
        *_starts_chosen(r["rows"]),
        "| theta | method | valid perplexity after the cut | after fine-tuning |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {'0 (unpruned)' if m == 'unpruned' else t} | {m} | {_pm(c['cut'], 1, 1)} | {_pm(c['tuned'], 1, 1)} |"
        for (t, m), c in valid.items()
    ]
    hidden = size["hidden"]
    paper = r["paper_kept"]
    lines += [
        "",
        "Units kept per layer by ISS-GM, as a share of the layer, beside the paper's (236, 297 of 1500 at its",
        "operating point):",
        "",
        "| setting | lstm1 | lstm2 |",
        "|---|---|---|",
        f"| paper, 1500 + 1500 units | {paper[0]} ({paper[0] / 1500:.1%}) | {paper[1]} ({paper[1] / 1500:.1%}) |",
    ]
    for c in cells:
        if c["method"] == "ISS-GM":
            k = list(c["kept"].values())
            lines.append(
                f"| here, theta {c['theta']}, {hidden} + {hidden} units | {k[0]} ({k[0] / hidden:.1%}) | "
                f"{k[1]} ({k[1] / hidden:.1%}) |"
            )
    lines += ["", "![test perplexity against theta](ptb.png)", ""]
    return lines, outcomes


PATHS = {
    "tf_b1": "TensorFlow, batch 1",
    "tf_b1_xla": "TensorFlow with XLA (jit_compile), batch 1",
    "tf_b64": "TensorFlow, batch 64",
    "tflite_float": "TFLite fused LSTM, float, batch 1",
    "tflite_dynamic": "TFLite fused LSTM, int8 weights, batch 1",
    "tflite_int8": "TFLite fused LSTM, int8 weights and activations, batch 1",
}


def _paths(rows: list[dict]) -> list[str]:
    """The paths a speed run measured (older runs lack the later ones)."""
    return [k for k in PATHS if rows and k in rows[0]]


def plot_speed(rows: list[dict], path: Path) -> None:
    fig, ax = axes()
    flop = [r["flops"][0] / r["flops"][1] for r in rows]
    top = max(flop)
    for i, key in enumerate(_paths(rows)):
        name = PATHS[key]
        ax.plot(flop, [r[key][0] / r[key][1] for r in rows], "o-", color=f"C{i}", label=name)
        top = max(top, *(r[key][0] / r[key][1] for r in rows))
    ax.plot([1, top], [1, top], "k:", lw=1, label="speedup = FLOP ratio")
    for f, r in zip(flop, rows):
        ax.annotate(f"theta {r['theta']}", (f, 1), fontsize=7, ha="center")
    save_plot(fig, ax, path, "FLOP ratio (original / pruned)", "measured speedup")


def speed_section(r: dict, out: Path) -> list[str]:
    rows, steps = r["youtube8m"], r["size"]["steps"]
    plot_speed(rows, out / "speedup.png")
    sample = r["sample"]
    names = list(sample[0]["kept"])
    lines = [
        "## 5. Speed: measured speedup against the FLOP ratio",
        "",
        f"`python -m bench.run --only speed`. Bidirectional(LSTM 512) -> LSTM 1024 -> Dense 3862 over {steps} x 1152",
        "(the YouTube-8M shape), random weights, the first (1 - theta) of every group's units kept (the speed",
        "depends on the counts only). The original and the pruned model are timed alternately in the same run;",
        "medians. TFLite models are converted by `lstmprune export --route fused` and run on 2 threads; dynamic is",
        "int8 weights with float activations, int8 is `--quantize int8` (weights and activations, calibrated on",
        "8 random sequences: the weights are random too). XLA: the same Keras call compiled with `jit_compile`.",
        "",
        "| theta | params | FLOP ratio | " + " | ".join(PATHS[k] for k in _paths(rows)) + " |",
        "|---|---|---|" + "---|" * len(_paths(rows)),
    ]
    for row in rows:
        cells = [f"{row[k][0]:.0f} -> {row[k][1]:.0f} ms: **{row[k][0] / row[k][1]:.2f}x**" for k in _paths(rows)]
        (p0, p1), (f0, f1) = row["params"], row["flops"]
        params = f"{p0 / 1e6:.1f}M -> {p1 / 1e6:.1f}M"
        lines.append(f"| {row['theta']} | {params} | {f0 / f1:.2f}x | " + " | ".join(cells) + " |")
    lines += [
        "",
        "TFLite file sizes (MB, original -> pruned): "
        + "; ".join(
            f"theta {row['theta']}: float {row['tflite_float_mb'][0]:.1f} -> {row['tflite_float_mb'][1]:.1f}, "
            f"dynamic {row['tflite_dynamic_mb'][0]:.1f} -> {row['tflite_dynamic_mb'][1]:.1f}"
            + (
                f", int8 {row['tflite_int8_mb'][0]:.1f} -> {row['tflite_int8_mb'][1]:.1f}"
                if "tflite_int8_mb" in row
                else ""
            )
            for row in rows
        )
        + ".",
        "",
        "![speedup against FLOP ratio](speedup.png)",
        "",
        *_speed_limits(rows),
        f"The shipped sample pruned by ISS-GM (statistics from `sample_models/calibration.tfrecord`,"
        f" {r['energy']['clips']:,} clips), TensorFlow, batch 64:",
        "",
        "| theta | kept " + " / ".join(names) + " | params | FLOP ratio | latency (ms) | speedup |",
        "|---|---|---|---|---|---|",
    ]
    for s in sample:
        (p0, p1), (f0, f1), (t0, t1) = s["params"], s["flops"], s["latency"]
        lines.append(
            f"| {s['theta']} | {_kept(s['kept'])} of {_kept(s['units'])} | {p0 / 1e6:.2f}M -> {p1 / 1e6:.2f}M | "
            f"{f0 / f1:.2f}x | {t0:.1f} -> {t1:.1f} | {t0 / t1:.2f}x |"
        )
    fig, ax = axes()
    for name, zeta in r["energy"]["curves"].items():
        ax.plot(np.arange(1, len(zeta) + 1), zeta, label=name)
    for s in sample:
        ax.axhline(s["alpha"], color="gray", ls=":", lw=1)
        ax.text(2, s["alpha"] + 0.01, f"alpha at theta {s['theta']}", fontsize=7, color="gray")
    ax.set_xscale("log")
    save_plot(fig, ax, out / "energy.png", "components (eigenvalues, descending)", "cumulative energy zeta", 8)
    lines += [
        "",
        "The sample's batch-64 pass takes tens of milliseconds, so fixed per-call costs weigh on its ratios.",
        "Cumulative energy of each group's covariance spectrum; dotted: the shared level alpha of each theta.",
        "",
        "![cumulative energy per group](energy.png)",
        "",
    ]
    return lines


def cost_section(r: dict) -> list[str]:
    a, f, p = r["analyze"], r["finetune"], r["prune"]
    lines = [
        "## 6. The cost of the tool",
        "",
        "`python -m bench.run --only cost`.",
        "",
    ]
    if a.get("whole_process"):
        lines += [
            "`lstmprune analyze` of the sample over AudioSet "
            f"`{r['size']['pattern']}` against a bare forward pass of the same",
            "model over the same records (the same reader, batch 64), each a whole process (Python and TensorFlow",
            "imported, the model loaded, the pass, exit), alternated; the best of the runs. Goals: time at most",
            "1.05x, peak memory at most 1.1x the forward pass's.",
            "",
            "| records | analyze (s) | forward pass (s) | time ratio | analyze peak (MB) | forward peak (MB) "
            "| memory ratio |",
            "|---|---|---|---|---|---|---|",
            f"| {a['records']:,} | {a['analyze']:.2f} | {a['forward']:.2f} | {a['analyze'] / a['forward']:.2f} | "
            f"{a['analyze_peak_mb']:.0f} | {a['forward_peak_mb']:.0f} | "
            f"{a['analyze_peak_mb'] / a['forward_peak_mb']:.2f} |",
        ]
        if a["analyze"] < a["forward"]:
            lines += [
                "",
                "`analyze` came out faster than the bare pass. Both read through the same `Stream` in batches of",
                "64; the probe stops at the recurrent states (no 527-way head) and otherwise runs the same layers.",
                "We did not find more of the difference; the bare pass is a plain user loop (a traced call per batch).",
            ]
    else:
        lines += [
            "`analyze`'s streaming pass (probe forward + statistics, tracing included; model loading excluded) for",
            f"the sample over AudioSet `{r['size']['pattern']}`, against a bare forward pass of the same model over",
            "the same records (same reader, batch 64), best of the runs:",
            "",
            "| records | analyze (s) | bare forward pass (s) | ratio |",
            "|---|---|---|---|",
            f"| {a['records']:,} | {a['analyze']:.2f} | {a['forward']:.2f} | {a['analyze'] / a['forward']:.2f} |",
        ]
    lines += [
        "",
        "Peak resident memory of `lstmprune analyze` (a subprocess each; the folder holds copies of one file):",
        "",
        "| sequences | peak memory (MB) | wall time (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {m['sequences']:,} | {m['peak_mb']:.0f} | {m['seconds']:.1f} |" for m in r["memory"]]
    lines += [
        "",
        "Fine-tuning throughput on the sample (one epoch over the first clips of `bal_train-00000`, batch 64,",
        "best of two rounds):",
        "",
        "| loop | sequences/s | vs model.fit |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:,.0f} | {v / f['model.fit']:.2f} |" for k, v in f.items()]
    lines += [
        "",
        "The Penn Treebank large shape (Embedding 10,000 x 1500 -> LSTM 1500 -> LSTM 1500 -> Dense 10,000,",
        f"{p['params'] / 1e6:.1f}M parameters, random weights): `analyze` over {p['windows']} windows of",
        "`ptb.valid.txt`",
        f"with every step a sample took {p['analyze']:.1f} s. `prune` wall time (load, rates, geometric-median",
        "ranking, surgery, writing the .keras file):",
        "",
        "| theta | kept lstm1 / lstm2 | wall time (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {_kept(v['kept'])} | {v['seconds']:.1f} |" for t, v in p["prune"].items()]
    if "prune_obs_0.7" in p:
        lines += ["", f"With `--criterion obs` (greedy structured OBS), theta 0.7: {p['prune_obs_0.7']:.1f} s."]
    if "prune_default_0.7" in p:
        d = p["prune_default_0.7"]
        lines += [
            "",
            f"The default cut at theta 0.7 (uniform rates, OBS units, the refit on calibration windows of"
            f" `ptb.valid.txt`): {d['seconds']:.1f} s, of which the refit {d['refit_seconds']:.1f} s"
            f" ({100 * d['refit_seconds'] / d['seconds']:.0f}%), against {p['prune']['0.7']['seconds']:.1f} s for"
            " the paper's cut.",
        ]
        if "passes" in d:
            lines += [
                f"The refit made {d['passes']} passes over the calibration windows: each recurrent layer is fitted"
                " twice (its own states move with its fit), the 10,000-word head once from the moments of its 1,500"
                f" inputs; {d['replayed']} of them replayed the original's inputs and states recorded in the first"
                " round of their layer instead of running the original again, which leaves the fit as it was.",
            ]
        if r.get("replay"):
            rp = r["replay"]
            same = rp["recomputed"]["after"] == rp["replayed"]["after"]
            lines += [
                f"Side by side in one process (`python -m bench.cost replay`), the refit took"
                f" {rp['recomputed']['seconds']:.0f} s running the original in every round and"
                f" {rp['replayed']['seconds']:.0f} s replaying it ({rp['ratio']:.2f}x);"
                + (" every fit's error is the same." if same else " the fits' errors differ (see cost.json)."),
            ]
        fewer = {int(k): v for k, v in p.get("prune_default_0.7_samples", {}).items()}
        if len(fewer) > 1:
            small = min(fewer)
            lines += [
                f"Read on {small} windows (`--refit-samples {small}`, what part 2's cuts of the trained Penn Treebank"
                f" models use) instead of {max(fewer):,}, the default cut took {fewer[small]['seconds']:.1f} s (the"
                f" refit {fewer[small]['refit_seconds']:.1f} s).",
            ]
        if d["refit_seconds"] > d["seconds"] / 2:
            lines += [
                "The refit still dominates the cut, and always will against a cut that reads no data: it runs the"
                " model over the calibration windows a few times, where the paper's cut only reads the statistics.",
            ]
    return lines + [""]


def cuts_section(r: dict) -> list[str]:
    """Right after the cut: every allocation x criterion x compensation, GAP@20 and the seconds of the cut."""
    base = next(row for row in r["rows"] if not row["theta"])
    lines = [
        "## Right after the cut: allocation x criterion x compensation",
        "",
        "`python -m bench.run --only cuts`. The sample model, statistics and refits from",
        f"`sample_models/calibration.tfrecord`, GAP@20 on `{Path(r['evaluation']).name}`, no fine-tuning",
        f"(unpruned: {100 * base['gap@20']:.2f}). Seconds: making the plan (measured allocations included) and",
        "the refit, on this machine's 2 cores. units: the paper's energy rule.",
        "",
    ]
    thetas = sorted({row["theta"] for row in r["rows"] if row["theta"]})
    recipes = list(dict.fromkeys((row["allocation"], row["criterion"]) for row in r["rows"] if row["theta"]))
    header = "| theta | allocation | criterion | none | mean | refit | kept (refit row) | seconds (refit row) |"
    lines += [header, "|---|---|---|---|---|---|---|---|"]
    cell = {(row["theta"], row["allocation"], row["criterion"], row["compensate"]): row for row in r["rows"]}
    for theta in thetas:
        best = max(row["gap@20"] for row in r["rows"] if row["theta"] == theta)
        for allocation, criterion in recipes:
            found = [cell.get((theta, allocation, criterion, m)) for m in ("none", "mean", "refit")]
            shown = [
                "-"
                if f is None
                else (f"**{100 * f['gap@20']:.2f}**" if f["gap@20"] == best else f"{100 * f['gap@20']:.2f}")
                for f in found
            ]
            last = next(f for f in reversed(found) if f is not None)
            kept = " / ".join(str(k) for k in last["kept"].values())
            lines.append(
                f"| {theta} | {allocation} | {criterion} | {' | '.join(shown)} | {kept} | {last['seconds']:.0f} |"
            )
    return lines + [""]


def durations_section(durations: dict | None, parts: dict) -> list[str]:
    """How long each part took, as `bench.run` measured it (parts whose last run predates the record: not given)."""
    durations = {k: v for k, v in (durations or {}).items() if k not in ("mode", "written")}
    lines = [
        "## Time per part",
        "",
        "Measured by `bench.run` around each part of its last run, on this machine's 2 cores. The load is the",
        "machine's 15-minute load average as the part ended: above 2, other work (another part, the tests) shared",
        "the cores and the part took longer than it would alone. A part absent here was last run before",
        "`bench.run` recorded its time.",
        "",
        "| part | minutes | load at its end | ended |",
        "|---|---|---|---|",
    ]
    for name, d in durations.items():
        lines.append(f"| {name} | {d['seconds'] / 60:.0f} | {d['load']:.1f} | {d['ended']} |")
    timed = {name.split(", shard")[0] for name in durations}
    absent = [name for name, found in parts.items() if found and name not in timed and name != "learned_search"]
    if absent:
        lines += ["", "Not recorded: " + ", ".join(absent) + "."]
    return lines + [""]


def write(mode: Mode) -> Path:
    """Assemble the document of `mode` from whatever parts have results; returns its path."""
    mode.out.mkdir(parents=True, exist_ok=True)
    names = (
        "audioset",
        "learned",
        "learned_search",
        "ptb",
        "wide",
        "recipe",
        "speed",
        "cost",
        "cuts",
        "scale",
        "zoo",
        "quantize",
    )
    parts = {name: load(mode, name) for name in names}
    durations = load(mode, "durations")
    command = "make bench" if mode.name == "full" else "make bench-quick"
    lines = [
        "# Benchmarks" + (" (quick mode: small sizes, for checking the suite, not for quoting)" if mode.quick else ""),
        "",
        f"Written by `{command}` (`python -m bench.run{' --quick' if mode.quick else ''}`); each part can be rerun",
        "alone with the command given in its section and the document rewritten with `--document`.",
        f"Machine: {machine()}. Part results (raw JSON) are in `{mode.results.relative_to(ROOT)}`;",
        "written: " + ", ".join(f"{k} {v['written']}" for k, v in parts.items() if v) + ".",
        "How long each part took is in the last section.",
        "Speedups are ratios of models timed alternately in the same run: the machine is shared and absolute",
        "times move between runs.",
        "",
    ]
    body, outcomes = [], {}
    if parts["audioset"]:
        section, outcomes["AudioSet"] = audioset_section(parts["audioset"], mode.out)
        body += section
    if parts["learned"]:
        body += learned_section(parts["learned"])
        if parts["learned"].get("ptb"):
            body += learned_ptb_section(parts["learned"]["ptb"], parts["ptb"])
    if parts["learned_search"]:
        body += learned_search_section(parts["learned_search"])
    if parts["ptb"]:
        section, outcomes["Penn Treebank"] = ptb_section(parts["ptb"], mode.out)
        body += section
    if parts["wide"]:
        section, outcomes["AudioSet, paper width"] = wide_section(parts["wide"], mode.out)
        body += section
    if parts["recipe"]:
        body += recipe_section(parts["recipe"])
    if parts["speed"]:
        body += speed_section(parts["speed"], mode.out)
    if parts["cost"]:
        body += cost_section(parts["cost"])
    if parts["cuts"]:
        body += cuts_section(parts["cuts"])
    if parts["scale"]:
        body += scale_section(parts["scale"])
    if parts["zoo"]:
        body += zoo_section(parts["zoo"])
    if parts["quantize"]:
        body += quantize.section(parts["quantize"])
    summary = ["## Where ISS-GM and the default win and where they lose", ""]
    for name, found in outcomes.items():
        for reference in REFERENCES:
            if found.get(reference):
                title = "the paper's method" if reference == "ISS-GM" else "the default cut"
                summary += [f"### {name}: {reference} ({title})", "", *tally(found[reference], reference), ""]
        summary += rates_reading(parts[{"AudioSet": "audioset", "Penn Treebank": "ptb"}.get(name, "wide")])
    if parts["speed"]:
        summary += ["### Speed", "", *speed_reading(parts["speed"]["youtube8m"])]
    if parts["cost"]:
        a = parts["cost"]["analyze"]
        time_ratio = a["analyze"] / a["forward"]
        line = f"`analyze` takes {time_ratio:.2f}x the time of a bare forward pass over the same records"
        if a.get("whole_process"):
            memory_ratio = a["analyze_peak_mb"] / a["forward_peak_mb"]
            line += (
                f" and {memory_ratio:.2f}x its peak memory, as whole processes (goals: 1.05x and 1.1x; "
                + ("both met" if time_ratio <= 1.05 and memory_ratio <= 1.1 else "missed: see part 6")
                + ")."
            )
        else:
            line += " (streaming passes in one process; the goal is 1.05x as whole processes)."
        summary += [line, ""]

    body += durations_section(durations, parts)
    path = mode.out / "benchmarks.md"
    path.write_text("\n".join(lines + summary + body))
    return path


def wide_section(r: dict, out: Path) -> tuple[list[str], list]:
    _, table, outcomes = comparison(r["rows"], "gap@20", "GAP@20 (%)", 100, 2, True, out / "wide.png", TIE / 100)
    size, recipe = r["size"], r["recipe"]
    params = next(x["params"] for x in r["rows"] if x["method"] == "unpruned")
    lines = [
        "## 3. The paper's width on AudioSet",
        "",
        "`python -m bench.run --only wide`. Masking -> Bidirectional(LSTM 512) -> LSTM 1024 -> Dense(527, sigmoid)",
        f"(the paper's YouTube-8M shape, {params / 1e6:.1f}M parameters), trained for {size['epochs']} epochs on",
        "`bal_train-*` (Adam 1e-3, batch 64) and cached. Its steps cost several times the sample's on this",
        f"machine, so: one seed, fine-tuning {recipe['epochs']} epoch over {r['clips']['train']:,} clips",
        f"(Adam {recipe['learning_rate']:g}), GAP@20 (%) on {r['clips']['eval']:,} clips of `eval-00001..3`.",
        "With one seed there is no spread: read differences under about 0.3 points as ties.",
        "",
        *table,
        "",
        "![GAP@20 against theta, paper width](wide.png)",
        "",
    ]
    return lines, outcomes


def recipe_section(r: dict) -> list[str]:
    """The default recipe against the unpruned model given the same extra training."""
    lines = [
        "## 4. The default recipe against the unpruned model",
        "",
        "`python -m bench.run --only recipe`. `lstmprune prune` (the default cut), then `lstmprune finetune` as it",
        f"runs by default: distilled from the original (alpha {r['alpha']}), `--start auto` judged on the",
        "validation slice of `eval-00000`, cosine schedule from Adam 1e-3; the unpruned model gets exactly the same",
        "training. GAP@20 (%) on `eval-00001..3`.",
        "",
        "| model | training | theta | params | as trained / right after the cut | after the recipe | gap to the "
        "unpruned model after the same training |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in r["models"].items():
        rows = m["rows"]
        training = f"{m['recipe']['epochs']} epoch(s) over {m['clips']:,} clips, seeds {list(m['size']['seeds'])}"
        base = np.array([x["tuned"] for x in rows if not x["theta"]])
        for theta in sorted({x["theta"] for x in rows}):
            found = [x for x in rows if x["theta"] == theta]
            tuned = np.array([x["tuned"] for x in found])
            spread = f" ± {100 * tuned.std(ddof=1):.2f}" if len(tuned) > 1 else ""
            gap = "-" if not theta else f"{100 * (tuned.mean() - base.mean()):+.2f}"
            lines.append(
                f"| {name} | {training} | {theta or '0 (unpruned)'} | {found[0]['params'] / 1e6:.2f}M | "
                f"{100 * found[0]['cut']:.2f} | {100 * tuned.mean():.2f}{spread} | {gap} |"
            )
    return lines + [""]


def rates_reading(r: dict) -> list[str]:
    """Where the paper's rates put the cut, against uniform rates, at each theta (the numbers behind the losses)."""
    rows = {(x["theta"], x["method"]): x for x in r["rows"] if x["seed"] == r["rows"][0]["seed"]}
    lines = []
    for (theta, method), x in sorted(rows.items()):
        if method != "ISS-GM" or (theta, "uniform rates") not in rows:
            continue
        ours, flat = x["kept"], rows[(theta, "uniform rates")]["kept"]
        where = ", ".join(f"{g} {ours[g]} vs {flat[g]}" for g in ours)
        lines.append(f"- theta {theta}: units kept by ISS-GM vs uniform rates: {where}")
    return ["How ISS-GM's shared energy level spreads the cut, against uniform rates:", "", *lines, ""]


def _speed_limits(rows: list[dict]) -> list[str]:
    """What holds a path below the FLOP ratio at the largest theta, and what a user can do, from the figures."""
    row = rows[-1]
    if "tf_b1_xla" not in row:
        return []
    flop = row["flops"][0] / row["flops"][1]
    b1, xla = row["tf_b1"], row["tf_b1_xla"]
    lines = [
        f"At theta {row['theta']} (FLOP ratio {flop:.2f}x) TensorFlow at batch 1 gains {b1[0] / b1[1]:.2f}x: every",
        "step of its loop launches the same number of small kernels whatever the width, and that fixed cost weighs",
        f"more as the layers shrink. Compiled with XLA the same call fuses each step's ops and gains"
        f" {xla[0] / xla[1]:.2f}x; the pruned model then answers in {xla[1]:.0f} ms instead of {b1[1]:.0f} ms.",
        f"The TFLite float file gains {row['tflite_float'][0] / row['tflite_float'][1]:.2f}x, more than the FLOPs"
        f" shrink: likely the memory traffic of the original's {row['tflite_float_mb'][0]:.0f} MB of weights read"
        f" at every step, against the pruned file's {row['tflite_float_mb'][1]:.0f} MB (not measured apart). What a",
        "user can do at batch 1: serve the call compiled with XLA (`tf.function(jit_compile=True)`) or ship the",
        "TFLite float file.",
    ]
    if "tflite_int8" in row:
        i8, dyn = row["tflite_int8"], row["tflite_dynamic"]
        lines += [
            f"The integer files fall short ({dyn[0] / dyn[1]:.2f}x with int8 weights, {i8[0] / i8[1]:.2f}x all-int8):",
            "each step quantizes its activations (and the all-int8 LSTM keeps a 16-bit cell state) at a cost that",
            f"does not shrink with the units, and on this x86 CPU the all-int8 file is slower than float outright"
            f" ({i8[1]:.0f} ms against {row['tflite_float'][1]:.0f} ms pruned): its kernels are made for",
            "integer-only hardware, where the 4x smaller file is the point.",
        ]
    return lines + [""]


def speed_reading(rows: list[dict]) -> list[str]:
    """The measured speedup against the FLOP ratio at every theta and path; where it falls short, say so."""
    lines = []
    for row in rows:
        flop = row["flops"][0] / row["flops"][1]
        measured = ", ".join(f"{PATHS[k]} {row[k][0] / row[k][1]:.2f}x" for k in _paths(rows))
        short = [PATHS[k] for k in _paths(rows) if row[k][0] / row[k][1] < flop]
        lines.append(
            f"- theta {row['theta']}: FLOP ratio {flop:.2f}x; measured {measured}."
            + (f" Below the FLOP ratio: {', '.join(short)}." if short else "")
        )
    return lines + [""]


LEARNED_REFERENCES = ("ISS-GM", "uniform rates", "default (uniform + OBS + refit)")


LEARNED = ("l0", "group-lasso", "soft-gm")


def _verdict(a: tuple[float, float], b: tuple[float, float], seeds: int, tie: float = TIE / 100) -> str:
    """'ahead' when a beats b (higher) beyond the spreads (several seeds) or by `tie` (one seed; TIE GAP@20
    points by default), 'behind' the reverse, else 'tied'."""
    margin = a[1] + b[1] if seeds > 1 else tie
    return "ahead" if a[0] - b[0] > margin else "behind" if b[0] - a[0] > margin else "tied"


def learned_section(r: dict) -> list[str]:
    """Structures learned in training beside the default one-shot cut at the same budget in epochs."""
    learn, tune = r["learn_epochs"], r["tune_epochs"]
    rank = {m: i for i, m in enumerate(LEARNED)}  # rows rerun alone come last in the file; the table keeps this order
    cells = compare.summary(sorted(r["rows"], key=lambda x: rank.get(x["method"], -1)), "gap@20")
    names = list(cells[0]["kept"])
    lines = [
        "## 1b. Structures learned in training: ISS-L0, ISS-GL and soft GM pruning",
        "",
        "`python -m bench.run --only learned`. `lstmprune learn --method l0|group-lasso|soft-gm` trains the sample",
        f"for {learn} epochs, then its cut is fine-tuned for {tune} more; the default one-shot cut and the unpruned",
        f"model are fine-tuned for {learn + tune} epochs in the same run (the default's start trial counted), all on",
        f"the same {r['size']['budget']:,} `bal_train` clips with the same teacher, validation and schedule.",
        *_learners_described(r["phases"]),
        _soft_described(r["phases"].get("soft-gm")),
        "GAP@20 (%) on eval-00001..3, mean ± standard deviation over",
        "seeds (the seeds vary the order of the clips and the learners' draws).",
        *_rerun_note(r, "python -m bench.learned METHOD"),
        "",
        f"| theta | method | kept {' / '.join(names)} | params | {_cut_label(r['rows'])} | after fine-tuning |",
        "|---|---|---|---|---|---|",
    ]
    for c in cells:
        cut = _pm(c["cut"], 100) if c["method"] in LEARNED else f"({_pm(c['cut'], 100)})"
        lines.append(
            f"| {c['theta']} | {c['method']} | {_kept(c['kept'])} | {c['params'] / 1e6:.2f}M | {cut} | "
            f"{_pm(c['tuned'], 100)} |"
        )
    lines += ["", _cut_note(r["rows"]), *_alive(r["rows"]), ""]
    by = {(c["theta"], c["method"]): c for c in cells}
    said = "after `learn`" if _cut_label(r["rows"]) == "after `learn` / the cut" else "right after its cut"
    for theta in sorted({c["theta"] for c in cells if c["method"] in LEARNED}):
        default = by.get((theta, "default (uniform + OBS + refit)"))
        if default is None:
            continue
        for method in LEARNED:
            if (theta, method) not in by:
                continue
            c = by[(theta, method)]
            after = _verdict(c["cut"], default["cut"], c["seeds"])
            tuned = _verdict(c["tuned"], default["tuned"], c["seeds"])
            lines.append(
                f"- theta {theta}, {method}: {said} {100 * c['cut'][0]:.2f} against the default's "
                f"untrained cut {100 * default['cut'][0]:.2f} ({after}); after the whole budget "
                f"{100 * c['tuned'][0]:.2f} against {100 * default['tuned'][0]:.2f} ({tuned})."
            )
    return lines + [""] + _long_budget(r["long"], learn + tune)


def _alive(rows: list[dict]) -> list[str]:
    """How many removed units the learners had not zeroed or closed when the cut was made (rows that record it)."""
    found: dict[tuple, list] = {}
    for x in rows:
        if x["method"] in LEARNED and x.get("alive_at_cut") is not None:
            found.setdefault((x["theta"], x["method"]), []).append((x["alive_at_cut"], x["removed_units"]))
    if not found:
        return []
    cells = [
        f"{method} at theta {theta} {np.mean([a for a, _ in v]):.0f} of {v[0][1]}"
        for (theta, method), v in sorted(found.items())
    ]
    if not any(a for v in found.values() for a, _ in v):
        return [
            "",
            "No removed unit carried weight when the cut was made, in any run: `l0` and `group-lasso` had closed "
            "every one of them, `soft-gm` had silenced them at that step (`removed_alive` 0)." + _penalty_left(rows),
        ]
    return [
        "",
        "Removed units that still carried weight when the cut was made (mean over seeds; not zeroed by group lasso, "
        "not closed by the gates, or regrown since their last silencing; the compensation absorbs them, and `exact` "
        f"says only that the model written is the cut model as trained): {'; '.join(cells)}.",
    ]


def _penalty_left(rows: list[dict]) -> str:
    """How many of the units the closings closed still carried weight when closed (rows that record it): what the
    penalty had not done itself."""
    found: dict[tuple, list] = {}
    for x in rows:
        if x["method"] in LEARNED and x.get("closings") and all(len(c) > 2 for c in x["closings"]):
            found.setdefault((x["theta"], x["method"]), []).append(
                (sum(c[2] for c in x["closings"]), x["closings"][-1][1])
            )
    if not found:
        return ""
    cells = [f"{m} at theta {t} {np.mean([a for a, _ in v]):.0f} of {v[0][1]}" for (t, m), v in sorted(found.items())]
    return (
        " Of the units the closings closed, these still carried weight when closed (the penalty had not closed the "
        f"gate or zeroed the unit; mean over seeds): {'; '.join(cells)}."
    )


def _cut_label(rows: list[dict]) -> str:
    """What the learned rows' `cut` is: right after the cut (rows that score it, `after_learn` beside it), or the
    model `learn` ended in (rows from before)."""
    learned = [x for x in rows if x["method"] in LEARNED]
    return "right after the cut" if all("after_learn" in x for x in learned) else "after `learn` / the cut"


def _cut_note(rows: list[dict]) -> str:
    if _cut_label(rows) == "after `learn` / the cut":
        return "In parentheses: the default right after its cut, before any training."
    return (
        "Right after the cut: a learned method's cut compensated at the end of its learning phase, before the cut\n"
        "trains; in parentheses, the default's cut before any training."
    )


def _learned_first(rows: list[dict]) -> tuple[list[dict], dict | None]:
    """The learned methods' rows first, and the one-shot row they are judged against."""
    ordered = sorted(rows, key=lambda x: x["method"] not in LEARNED)
    return ordered, next((x for x in ordered if x["method"] not in LEARNED), None)


def _long_budget(long: dict, epochs: int) -> list[str]:
    """The long-budget rows: one seed, ties under TIE points."""
    if not long["rows"]:
        return []
    rows, default = _learned_first(long["rows"])
    lines = [
        f"### The long budget: {long['factor']}x, {long['factor'] * epochs} epochs",
        "",
        f"Theta {rows[0]['theta']}, seed 0, the same clips; a difference under {TIE} GAP@20 points is a tie.",
        "",
        f"| method | kept | {_cut_label(long['rows'])} | after fine-tuning | against the default |",
        "|---|---|---|---|---|",
    ]
    for x in rows:
        cut = 100 * x["cut"]["gap@20"]
        shown = f"{cut:.2f}" if x["method"] in LEARNED else f"({cut:.2f})"
        verdict = ""
        if default is not None and x is not default:
            verdict = _verdict((x["tuned"]["gap@20"], 0), (default["tuned"]["gap@20"], 0), 1)
        lines.append(f"| {x['method']} | {_kept(x['kept'])} | {shown} | {100 * x['tuned']['gap@20']:.2f} | {verdict} |")
    return lines + _alive(long["rows"]) + [""]


def learned_ptb_section(r: dict, one_shot: dict | None) -> list[str]:
    """The learned structures on part 2's language model, beside part 2's one-shot rows (same budget, seeds)."""
    rows = [{**x, "cut": x.get("cut", x["tuned"])} for x in r["rows"]]  # rows from before the cut was scored
    scored = all("cut" in x for x in r["rows"])  # each learned cut scored right after the cut
    thetas = sorted({x["theta"] for x in rows})
    own = any(x["method"] not in LEARNED for x in rows)  # the default's rows run beside them on the same base
    if one_shot and not own:
        rows += [x for x in one_shot["rows"] if x["method"] in LEARNED_REFERENCES and x["theta"] in thetas]
    cells = compare.summary(rows, "test")
    seeds = max(c["seeds"] for c in cells)
    spread = "mean ± standard deviation over seeds" if seeds > 1 else f"one seed (a tie under {PTB_TIE})"
    lines = [
        "### On Penn Treebank",
        "",
        "`python -m bench.run --only learned-ptb` runs the three methods on part 2's language model with part 2's",
        f"budget: one epoch over the same {r['budget_windows']:,} windows, all of it `learn` with its defaults (each",
        "method learns over a share of it, is cut and compensated there, and the cut trains over the rest, as",
        "above, keeping its best epoch on part 2's validation windows as `learn --val` does), labels only as in",
        "part 2. Test perplexity (lower",
        f"is better), {spread}; "
        + (
            "the default one-shot cut beside them, fine-tuned in the same run from the same training of the base "
            f"model ({r['base']})"
            if own
            else "part 2's one-shot rows beside them"
        )
        + " (in parentheses: right after the cut, untrained; then after one epoch of fine-tuning)."
        + (
            " A learned method's cut is scored at the end of its learning phase, compensated, before it trains."
            if scored
            else ""
        ),
        f"Run {r.get('written') or r.get('kept_from')}.",
        *_rerun_note(r, "python -m bench.learned --ptb METHOD"),
        "",
        "| theta | method | kept | params | after the cut | after the budget | exact | s per epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    timing = {}
    for x in rows:
        timing.setdefault((x["theta"], x["method"]), []).append(x.get("seconds_per_learning_epoch") or x["seconds"])
    exact: dict[tuple, bool | None] = {}
    for x in r["rows"]:  # exact only if every seed's run was
        key = (x["theta"], x["method"])
        exact[key] = None if x.get("exact") is None else bool(x["exact"]) and exact.get(key, True) is not False
    for c in sorted(cells, key=lambda c: (c["theta"], c["method"] not in LEARNED)):
        key = (c["theta"], c["method"])
        learned = c["method"] in LEARNED
        cut = (_pm(c["cut"], 1, 1) if scored else "") if learned else f"({_pm(c['cut'], 1, 1)})"
        shown = "" if not learned else "yes" if exact.get(key) else "no" if exact.get(key) is not None else ""
        lines.append(
            f"| {c['theta']} | {c['method']} | {_kept(c['kept'])} | {c['params'] / 1e6:.2f}M | {cut} | "
            f"{_pm(c['tuned'], 1, 1)} | {shown} | {np.mean(timing[key]):.0f} |"
        )
    lines += _alive(r["rows"])
    by = {(c["theta"], c["method"]): c for c in cells}
    lines.append("")
    for theta in thetas:
        default = by.get((theta, "default (uniform + OBS + refit)"))
        for method in LEARNED:
            c = by.get((theta, method))
            if default is None or c is None:
                continue
            lower = lambda cell: (-cell[0], cell[1])  # noqa: E731  (perplexity: lower is ahead)
            seeds = min(c["seeds"], default["seeds"])  # a one-seed side: the threshold
            tuned = _verdict(lower(c["tuned"]), lower(default["tuned"]), seeds, tie=PTB_TIE)
            if scored:  # the default's cut is one model: no spread
                after = _verdict(lower(c["cut"]), lower(default["cut"]), c["seeds"], tie=PTB_TIE)
                lines.append(
                    f"- theta {theta}, {method}: right after its cut {c['cut'][0]:.1f} against the default's untrained "
                    f"cut {default['cut'][0]:.1f} ({after}); after the budget {c['tuned'][0]:.1f} against "
                    f"{default['tuned'][0]:.1f} ({tuned})."
                )
                continue
            after = _verdict(lower(c["tuned"]), lower(default["cut"]), c["seeds"], tie=PTB_TIE)
            lines.append(
                f"- theta {theta}, {method}: {c['tuned'][0]:.1f} after its budget, against the default's untrained "
                f"cut {default['cut'][0]:.1f} ({after}) and its fine-tuned cut {default['tuned'][0]:.1f} ({tuned})."
            )
    return lines + [""] + _ptb_long(r.get("long"))


def _ptb_long(long: dict | None) -> list[str]:
    """The long-budget PTB rows: one seed, ties under PTB_TIE."""
    if not long or not long["rows"]:
        return []
    rows, default = _learned_first(long["rows"])
    lines = [
        f"#### The long budget on Penn Treebank: {long['factor']} epoch(s)",
        "",
        f"`python -m bench.learned --ptb-long` (run {long['written']}"
        + (f", base model {long['base']}" if long.get("base") else "")
        + "".join(f"; {m} rerun alone on {when}" for m, when in long.get("rerun", {}).items())
        + f"). Theta {long['theta']}, seed 0, the same",
        f"windows, {long['factor']} epoch(s) for every method (`learn`'s share and the default's start trial",
        f"included); test perplexity, a difference under {PTB_TIE} is a tie.",
        "",
        "| method | kept | right after the cut | after the budget | exact | against the default | seconds (shared "
        "cores) |",
        "|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        learned = x["method"] in LEARNED
        cut = (f"{x['cut']['test']:.1f}" if "cut" in x else "") if learned else f"({x['cut']['test']:.1f})"
        exact = ("yes" if x.get("exact") else "no") if learned else ""
        verdict = ""
        if default is not None and x is not default:
            verdict = _verdict((-x["tuned"]["test"], 0), (-default["tuned"]["test"], 0), 1, tie=PTB_TIE)
        lines.append(
            f"| {x['method']} | {_kept(x['kept'])} | {cut} | {x['tuned']['test']:.1f} | {exact} | {verdict} | "
            f"{x['seconds']:.0f} |"
        )
    return lines + _alive(long["rows"]) + [""]


def scale_section(r: dict) -> list[str]:
    """analyze in-process against the Beam DirectRunner on this machine."""
    lines = [
        "## Beyond one machine, measured on this one",
        "",
        f"`python -m bench.run --only scale`. `lstmprune analyze` of the sample over AudioSet `{r['data']}`",
        f"({r['records']:,} records), in-process and as a Beam pipeline on the DirectRunner with worker processes",
        "(`--runner beam --beam-options '--runner=DirectRunner --direct_num_workers=N",
        "--direct_running_mode=multi_processing'`), one after the other on the same 2 cores:",
        "",
        "| runner | workers | seconds | records per second | same counts | largest covariance difference |",
        "|---|---|---|---|---|---|",
    ]
    for x in r["rows"]:
        same = "" if "same_counts" not in x else ("yes" if x["same_counts"] else "**no**")
        diff = "" if "max_cov_diff" not in x else f"{x['max_cov_diff']:.1e}"
        speed = f"{x['seconds']:.1f} | {x['records_per_second']:,.0f}"
        lines.append(f"| {x['runner']} | {x['workers']} | {speed} | {same} | {diff} |")
    lines += [
        "",
        "On one machine the pipeline loses: each worker process starts TensorFlow and loads the model, and records",
        "cross process boundaries. It is there for the data a machine cannot hold (YouTube-8M frame-level is about",
        "1.5 TB in 3,844 shards) on Dataflow, Flink or Spark; the counts and the statistics are the in-process pass's.",
        "",
    ]
    f = r.get("finetune")
    if f:
        lines += [
            f"`lstmprune finetune`, one epoch over `{f['data']}`: one worker (batch 64) against two local workers of a",
            "`MultiWorkerMirroredStrategy` (`--strategy multi-worker`, TF_CONFIG on localhost, batch 32 each: the same",
            "global batch), both processes on the same 2 cores:",
            "",
            "| workers | sequences | seconds | sequences per second |",
            "|---|---|---|---|",
            *(
                f"| {x['workers']} | {x['sequences']:,} | {x['seconds']:.1f} | {x['sequences_per_second']:,.0f} |"
                for x in f["rows"]
            ),
            "",
            "Two workers on one 2-core machine share the cores and add an all-reduce per step; the speed-up belongs to",
            "workers on separate machines. The result is the one worker's "
            "(tests/test_train_distribute.py, within 1e-4).",
            "",
        ]
    return lines


def zoo_section(r: dict) -> list[str]:
    """Models other people published, each step as a user runs it: exits, seconds, metric before and after."""

    def cell(found) -> str:
        return "-" if not found else f"{found[1]:.3f}"

    lines = [
        "## Models people published (`../shared/zoo`)",
        "",
        "`python -m bench.run --only zoo`. Each model as its authors committed it, each step a separate",
        f"`lstmprune` process: analyze on its calibration slice, prune at theta {r['theta']} (the default cut, and",
        "`--paper`), export to TFLite, report on its held-out slice, finetune where it came with training data",
        f"({r['epochs']} epoch(s)). Metric: accuracy (top1 or binary) or, for the regressors, R², on the held-out",
        "slice.",
        "",
        "| model | file | steps (exit, s) | metric | original | default cut | `--paper` cut | fine-tuned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        steps = ", ".join(f"{s['step']} {s['exit']} ({s['seconds']:.0f})" for s in row["steps"])
        metric = (row.get("original") or [None])[0] or "-"
        cells = [cell(row.get(k)) for k in ("original", "cut", "paper", "tuned")]
        lines.append(
            f"| {row['model']} | `{row['file']}` ({row.get('format', 'refused')}) | {steps} | {metric} | "
            + " | ".join(cells)
            + " |"
        )
    refused = [row for row in r["rows"] if row["steps"][-1]["exit"] != 0]
    for row in refused:
        lines += ["", f"{row['model']} ends with exit {row['steps'][-1]['exit']}: {row['steps'][-1]['said']}"]
    outputs = [(row["model"], o) for row in r["rows"] for o in row.get("outputs", [])]
    bad = [(m, o) for m, o in outputs if not o["loads"] or o["warnings"]]
    lines += [
        "",
        f"Outputs loaded back in the Keras that reads their input (Keras 3 or tf-keras), in a fresh process: "
        f"{len(outputs) - len(bad)} of {len(outputs)} load without a warning"
        + ("." if not bad else "; not: " + "; ".join(f"{m} ({o['reader']}: {' '.join(o['said'])})" for m, o in bad)),
        "",
    ]
    return lines


def learned_search_section(r: dict) -> list[str]:
    """The settings of the learned methods, every value tried and its validation score."""
    lines = [
        "### The learned methods' settings, chosen on validation clips",
        "",
        "`python -m bench.learned_search`. Theta "
        f"{r['theta']}, {r['epochs']} epochs over {r['clips']:,} `bal_train` clips, the cut refitted; GAP@20 (%) on "
        "the validation clips of `eval-00000` (never the test clips). LEARN: share of the steps that learn the "
        "structure before the cut (the rest train the cut model); prior: the ranking learning starts from "
        "(`learn --prior`); travel: how far `l0`'s gates can move in log-alpha over the learning steps.",
        "",
        "| method | LEARN | prior | travel | validation GAP@20 | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        chosen = r["chosen"][row["method"]] == row
        cell = f"{100 * row['validation_gap@20']:.2f}"
        lines.append(
            f"| {row['method']} | {row['learn']} | {row['prior']} | {row.get('travel', '')} | "
            f"{f'**{cell}**' if chosen else cell} | {row['seconds']:.0f} |"
        )
    taken = r.get("across", {}).get("chosen", {}).items()
    changed = sorted({c.get("method", m) for m, c in taken if c["taken"] and c.get("method", m) in r["chosen"]})
    names = [f"{m}'s" for m in changed]
    listed = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] if names else ""
    later = f" (the last stage below changed {listed})" if changed else ""
    lines += ["", f"Bold: the setting chosen for each method here{later}.", ""]
    lines += _allocation_search(r["allocation"]) if "allocation" in r else []
    lines += _controls_search(r["controls"]) if "controls" in r else []
    lines += _soft_search(r["soft"]) if "soft" in r else []
    return lines + (_across_search(r["across"]) if "across" in r else [])


def _across_search(a: dict) -> list[str]:
    """The fifth stage: settings tried on Penn Treebank as well as on the sample, each against the current one."""
    thetas = " and ".join(map(str, a["ptb_thetas"]))
    lines = [
        "A default must hold on both data sets at hand, so these settings were tried on part 2's language model too "
        f"(`python -m bench.learned_search across`): on the sample at theta {a['rows'][0]['theta']} (mean over seeds "
        f"{', '.join(map(str, a['seeds']))}, validation GAP@20 %), and on Penn Treebank at theta {thetas} with part "
        "2's budget of one epoch (seed 0, mean validation perplexity over the thetas, on the valid windows that no "
        f"best-epoch choice reads). A new setting is taken if it gains more than the tie on one ({a['tie']} points; "
        f"{a['ptb_tie']} perplexity) and loses no more than the tie on the other, or if it ties on both and is the "
        "simpler (fewer closings). Each entry's two settings ran side "
        "by side; an entry run later may meet another training of the base model (a clone trains it again), so the "
        "same setting can score differently in two entries.",
        "",
        "| method | setting | sample: validation GAP@20 | PTB: validation perplexity | the default |",
        "|---|---|---|---|---|",
    ]
    for label, c in a["chosen"].items():
        method = c.get("method", label)  # (entries first saved by method)
        change = ", ".join(f"{k} {_shown(v)}" for k, v in c["change"].items())
        current = next(r for r in a["rows"] if r.get("entry", r["method"]) == label and r["setting"] == "current")
        before = ", ".join(f"{k} {_shown(current[k])}" for k in c["change"])
        for name, shown in (("current", before), ("new", change)):
            m = c["means"][name]
            taken = "yes" if c["taken"] == (name == "new") else ""
            lines.append(f"| {method} | {shown} | {100 * m['audioset']:.2f} | {m['ptb']:.1f} | {taken} |")
    if any({"closings", "between"} & set(c["change"]) for c in a["chosen"].values()):
        lines += [
            "",
            "`closings`, `between`: the entries that name them ran with `l0` and `group-lasso` closing their budget's "
            "units as they learn (the k-th of n closings the lowest-ranked units that remove k/n of theta, the last "
            "at the cut; `between`: how each closing before the last is compensated, `as the cut` the refit); the "
            "entries above them ran before the closings, with one cut at the end of the learning phase. "
            "`closings 1` closes only at the cut: the removed units reach zero (their gates close) there, by the "
            "closing, not by the penalty.",
        ]
    return lines + [""]


def _shown(value) -> str:
    """A setting's value as the search table shows it (between None: compensated as the cut)."""
    return "as the cut" if value is None else str(value)


def _soft_search(a: dict) -> list[str]:
    """The fourth stage: soft-gm's allocation, its ranking the paper's geometric median."""
    seeds = a["seeds"]
    lines = [
        f"And soft-gm's allocation and phases at theta {a['theta']}, its ranking the paper's geometric median:",
        "`units` the paper's energy rule on the share of units, `uniform` every group at theta; soft pruning over",
        "every step with the hard cut at the end (as the paper trains), or *phased S*: soft pruning over the share S",
        "of the steps (silencing four times), then the cut, compensated, trains over the rest as l0 and group-lasso",
        "do; every silencing compensated as the cut is (the refitted cut written back into the kept weights)",
        f"(`python -m bench.learned_search soft`; seeds {', '.join(map(str, seeds))}; a new option taken only if it",
        f"gains more than {a['tie']} points).",
        "",
        "| option | kept | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---|---|" + "---|" * len(seeds) + "---|",
    ]
    for target, mean in a["means"].items():
        rows = {r["seed"]: r for r in a["rows"] if r.get("option", r["target"]) == target}
        cells = [f"{100 * rows[s]['validation_gap@20']:.2f}" if s in rows else "" for s in seeds]
        kept = _kept(next(iter(rows.values()))["kept"]) if rows and "kept" in next(iter(rows.values())) else ""
        shown = f"{100 * mean:.2f}"
        shown = f"**{shown}**" if a["chosen"] == target else shown
        lines.append(f"| {target} | {kept} | {' | '.join(cells)} | {shown} |")
    return lines + ["", f"Bold: soft-gm's default ({a['chosen']}).", ""]


def _controls_search(c: dict) -> list[str]:
    """The third stage: the learners' penalty controls, one at a time, means over the seeds."""
    chosen = c["chosen"]
    names = [k for k in chosen if not k.endswith((" means", " current"))]
    lines = [
        f"Last, the learners' penalty controls at theta {c['theta']}, one at a time around their values, each "
        f"method with its chosen setting and allocation (`python -m bench.learned_search controls`; mean over seeds "
        f"{', '.join(map(str, c['seeds']))}): `GATE_GAIN` weighs `l0`'s penalty per unit of excess open share; "
        "`GL_START` and `GL_RISE` set group lasso's first threshold and its growth per step. A value replaces the "
        f"current one only if it gains more than {c['tie']} points.",
        "",
        "| control | value | validation GAP@20 |",
        "|---|---|---|",
    ]
    for name in names:
        for value, mean in chosen[f"{name} means"].items():
            shown = f"{100 * mean:.2f}"
            shown = f"**{shown}**" if float(value) == chosen[name] else shown
            current = " (the value before)" if float(value) == chosen[f"{name} current"] else ""
            lines.append(f"| `{name}` | {float(value):g}{current} | {shown} |")
    return lines + ["", "Bold: the value kept.", ""]


def _allocation_search(a: dict) -> list[str]:
    """The second stage: each learner's allocation (`learn --allocate`), chosen on the mean over its seeds."""
    seeds = a["seeds"]
    lines = [
        f"Then each method's allocation, with its chosen setting, at theta {a['theta']} (where the learners' own "
        "allocation and uniform rates part most): `learned` lets the learned scores choose how many units each group "
        "keeps, `uniform` cuts every group at theta and lets them choose which "
        f"(`python -m bench.learned_search allocation`; seeds {', '.join(map(str, seeds))}).",
        "",
        "| method | allocation | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---|---|" + "---|" * len(seeds) + "---|",
    ]
    for key, mean in a["means"].items():
        method, allocation = key.rsplit(" ", 1)
        rows = {r["seed"]: r for r in a["rows"] if r["method"] == method and r["allocation"] == allocation}
        cells = [f"{100 * rows[s]['validation_gap@20']:.2f}" for s in seeds]
        shown = f"{100 * mean:.2f}"
        shown = f"**{shown}**" if a["chosen"][method] == allocation else shown
        lines.append(f"| {method} | {allocation} | {' | '.join(cells)} | {shown} |")
    chosen = ", ".join(f"`{m}` {v}" for m, v in a["chosen"].items())
    return lines + ["", f"Bold: each method's default allocation with `--theta` ({chosen}; `learn --allocate`).", ""]


def _soft_described(soft: dict | None) -> str:
    """How soft-gm ran: the paper's way (rows before its phases were recorded) or in two phases."""
    if not soft or not soft.get("phased"):
        return (
            "`soft-gm`: the paper's rates and geometric-median ranking, units silenced once per epoch (their means "
            "folded into the next biases) and free to regrow, the hard cut at the end."
        )
    rates = "the paper's rates" if soft["allocation"] == "energy" else f"{soft['allocation']} rates"
    ranking = _RANKINGS.get(soft.get("criterion", "gm"), soft.get("criterion"))
    silenced = (
        "each compensated as the cut is: the refitted cut of the model as it stands written back into its kept weights"
        if soft.get("silencing") == "compensated"
        else "their means folded into the next biases"
    )
    return (
        f"`soft-gm`: {rates} and the {ranking} ranking; units silenced {soft['prunes']} times over the "
        + (f"first {soft['learn']:.0%} of the steps" if "learn" in soft else "learning share")
        + (", the last at the cut" if soft.get("last_at_cut") else "")
        + f" ({silenced}) and free to regrow, then cut and trained on as "
        "the others (chosen on validation clips below)."
    )


_RANKINGS = {"gm": "geometric-median", "obs": "OBS (the shipped cut's)"}


def _learners_described(phases: dict) -> list[str]:
    """How `l0` and `group-lasso` ran, from what the part recorded."""
    prior, shares = phases["prior"], phases.get("shares") or {m: phases["learn"] for m in LEARNED[:2]}
    share = (
        f"over {shares['l0']:.0%} of their steps"
        if shares["l0"] == shares["group-lasso"]
        else f"over {shares['l0']:.0%} (`l0`) and {shares['group-lasso']:.0%} (`group-lasso`) of their steps"
    )
    closed = _closings_described(phases)
    return [
        f"`l0` (hard-concrete gates, starting from the `{prior['l0']}` ranking) and `group-lasso` (a proximal group "
        f"soft-threshold, starting from `{prior['group-lasso']}`) learn the structure {share}{closed or ','} are cut "
        f"there (`--compensate {phases['compensate']}`), and the cut trains over the rest."
        + (
            " How many units each group keeps: "
            + ", ".join(f"`{m}` by its {_ALLOCATED[a]}" for m, a in phases["allocation"].items())
            + " (`learn --allocate`, chosen on validation clips below)."
            if "allocation" in phases
            else ""
        ),
    ]


def _closings_described(phases: dict) -> str:
    """How `l0` and `group-lasso` closed their units (parts that recorded it), as a clause."""
    closings = phases.get("closings")
    if not closings:
        return ""
    if not isinstance(closings, dict):
        closings = {m: closings for m in LEARNED[:2]}
    if set(closings.values()) == {1}:
        return (
            ", closing their budget's lowest-ranked units at the end of it (compensated as the cut is, so the cut "
            "removes exactly the closed units; the penalties alone close or zero almost none there); they"
        )
    between = phases.get("between") or {}
    said = []
    for m, n in closings.items():
        how = between.get(m, "as the cut")
        how = (
            "each compensated as the cut is" if how == "as the cut" else f"each before the last compensated by `{how}`"
        )
        said.append(
            f"`{m}` once, at the cut"
            if n == 1
            else f"`{m}` {n} times evenly, the k-th closing the lowest-ranked units that remove k/{n} of theta, {how}"
        )
    return (
        ", closing their budget's units as they learn: "
        + "; ".join(said)
        + " (the last closing at the cut, so the cut removes exactly the closed units); they"
    )


_ALLOCATED = {
    "learned": "learned scores (one ranking over all groups)",
    "uniform": "uniform rates (each group at theta)",
}
