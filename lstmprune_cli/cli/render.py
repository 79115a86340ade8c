"""Everything the user sees: rich tables and progress on stderr, JSON on stdout."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def _console(stderr: bool = False) -> Console:
    """A console; when the output is a file or a pipe, wide enough that tables are never cut."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=220)
    return console


err = _console(stderr=True)
out = _console()


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner while a step without a count runs, on a terminal only (a failure stays one line)."""
    if not err.is_terminal:
        yield
        return
    with err.status(message):
        yield


def emit_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=1) + "\n")


def progress(batches: Iterable, total: int, label: str = "analyze") -> Iterator:
    """Wrap an iterator of batches (B, ...) or of sequence counts with a bar that counts sequences."""
    columns = [
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} seq/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, transient=False, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=total or None, rate="-")
        for batch in batches:
            yield batch
            x = batch[0] if isinstance(batch, tuple) else batch
            bar.advance(task, x if isinstance(x, int) else int(x.shape[0]))

            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.0f}" if speed else "-")


def display(quiet: bool, point=None):
    """What a job shows while it runs: progress bars and epoch lines on stderr, nothing with --json. point: how a
    finished point is shown (default: a sweep's)."""
    from ..framework.jobs.display import QUIET, Display

    if quiet:
        return QUIET
    return Display(
        progress=progress,
        epoch=lambda e: err.print(epoch_line(e)),
        status=status,
        point=point or (lambda p: err.print(f"theta {p.theta}: {short(p)}")),
    )


def hint(command: str, workspace: Path) -> str:
    """A next-step command, with the workspace when it is not the default."""
    from ..core.workspace import DEFAULT

    return command + ("" if workspace == DEFAULT else f" -w {workspace}")


def short(point) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in (point.metrics or {}).items()) or "pruned"


def inspect_table(report: dict) -> Table:
    files = report["files"]
    title = (
        f"{len(files)} file(s), {report['records']:,} {report['record_type']} records"
        + (f", {report['compression']}" if report["compression"] else "")
        + (f"; layout: {report['preset']}" if report["preset"] else "")
    )
    table = Table(title=title, title_justify="left")
    for col in ("feature", "where", "kind", "values", "frames (min / median / max)"):
        table.add_column(col, justify="right" if col == "values" else "left")
    for f in report["features"]:
        spread = f["frames"]
        frames = f"{spread['min']} / {spread['median']} / {spread['max']}" if spread else "-"
        seen = f.get("values_seen")
        values = str(f["values"]) if not seen or seen["min"] == seen["max"] else f"{seen['min']}..{seen['max']}"
        table.add_row(f["name"], f["where"], f["kind"], values, frames)
    table.caption = (
        f"values: per frame for frame features, per record for Examples; from the first {report['sampled']} records"
    )
    return table


def epoch_line(e) -> str:
    line = f"epoch {e.epoch}: loss {e.loss:.4f}, {e.samples / e.seconds:,.0f} seq/s"
    if e.validation:
        line += ", val " + ", ".join(f"{k} {v:.4f}" for k, v in e.validation.to_dict().items() if k != "samples")
    return line


def finetune_table(job) -> Table:
    table = Table(title=f"finetune ({job.task}), best epoch {job.result.best_epoch}", title_justify="left")
    keys = ["loss"] + (list(job.result.epochs[0].validation.metrics) if job.result.epochs[0].validation else [])
    for col in ["epoch", "train loss", "seq/s"] + [f"val {k}" for k in keys]:
        table.add_column(col, justify="right")
    if job.before:
        table.add_row("before", "-", "-", *[f"{job.before.to_dict()[k]:.4f}" for k in keys])
    for e in job.result.epochs:
        vals = [f"{e.validation.to_dict()[k]:.4f}" for k in keys] if e.validation else []
        table.add_row(str(e.epoch), f"{e.loss:.4f}", f"{e.samples / e.seconds:,.0f}", *vals)
    return table


def _pct(x: float | None) -> str:

    return "-" if x is None else f"{100 * x:.1f}%"


def groups_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    planned = any("num_kept" in r for r in rows)
    table.add_column("group", no_wrap=True)
    for col in ("cell", "units") + (() if planned else ("samples",)) + ("90%", "95%", "99%"):
        table.add_column(col, justify="left" if col == "cell" else "right")
    if planned:
        for col in ("kept", "rate", "energy"):
            table.add_column(col, justify="right")
    for r in rows:
        samples = "-" if r["samples"] is None else f"{r['samples']:,}"
        cells = [r["group"] + ("" if r["prunable"] else " (output, kept)"), r["cell"], str(r["units"])]
        cells += [] if planned else [samples]
        cells += [str(r["energy_units"][k]) if r["energy_units"] else "-" for k in ("90%", "95%", "99%")]
        if planned:
            cells += [str(r["num_kept"]), _pct(r["rate"]), _pct(r["energy_kept"])]
        table.add_row(*cells)
    table.caption = "90/95/99%: components holding that share of the covariance energy" + (
        "; energy: share held by the top `kept` components" if planned else ""
    )
    return table


def _num(x: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.2f}{unit}"
    return f"{x:.0f}"


def cost_table(result) -> Table:
    table = Table(title="cost", title_justify="left")
    for col in ("", "original", "pruned", "ratio"):
        table.add_column(col, justify="left" if not col else "right")
    (p0, p1), (f0, f1) = result.params, result.flops
    table.add_row("parameters", _num(p0), _num(p1), f"{p0 / p1:.2f}x")
    table.add_row(
        "FLOPs per step", _num(f0["per_step"]), _num(f1["per_step"]), f"{f0['per_step'] / f1['per_step']:.2f}x"
    )
    table.add_row(
        f"FLOPs per sequence ({result.length} steps)",
        _num(f0["per_sequence"]),
        _num(f1["per_sequence"]),
        f"{f0['per_sequence'] / f1['per_sequence']:.2f}x",
    )
    if result.latency_ms:
        t0, t1 = result.latency_ms
        table.add_row(f"CPU latency, batch {result.batch} (ms)", f"{t0:.1f}", f"{t1:.1f}", speed(t0, t1))
    return table


def speed(before: float, after: float) -> str:
    """A time ratio as a person reads it: '1.80x faster', or '1.04x slower' (never '0.96x faster')."""
    if not (before > 0 and after > 0):
        return "-"
    return f"{before / after:.2f}x faster" if after <= before else f"{after / before:.2f}x slower"


def _ms(record, key: str) -> str:
    t = record.latency_ms.get(key)
    return "-" if t is None else f"{t:.1f}"


def report_rows(job) -> tuple[list[str], list[list[str]]]:
    """Rows of the cost table: one per quantity, one column per model, ratios against the original."""
    names = list(job.costs)
    base = job.costs[names[0]]
    lat_keys = [k for k in base.latency_ms]
    rows = [
        ["parameters"] + [_num(job.costs[n].params) for n in names],
        ["FLOPs per step"] + [_num(job.costs[n].flops_per_step) for n in names],
        ["size on disk (MB)"] + [f"{job.costs[n].size_bytes / 1e6:.2f}" for n in names],
    ]
    rows += [[f"latency {k} (ms)"] + [_ms(job.costs[n], k) for n in names] for k in lat_keys]
    if base.metrics:
        rows += [[m] + [f"{job.costs[n].metrics[m]:.4f}" for n in names] for m in base.metrics]
    ratios = [speed(base.latency_ms[k], job.costs[n].latency_ms[k]) for n in names[1:] for k in lat_keys[-1:]]
    rows.append([f"speed ({lat_keys[-1]})", "1.00x"] + ratios)
    return ["", *names], rows


def report_tables(job) -> list[Table]:
    header, rows = report_rows(job)
    table = Table(title="report", title_justify="left")
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    tables = [table]
    if job.files:
        header, rows = file_rows(job.files)
        shipped = Table(title="TFLite files, as they ship", title_justify="left")
        for i, col in enumerate(header):
            shipped.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            shipped.add_row(*row)
        tables.append(shipped)
    if job.groups:
        tables.append(groups_table(job.groups, "groups"))
    return tables


def file_rows(files) -> tuple[list[str], list[list[str]]]:
    """The TFLite files' table: size, batch-1 latency, and their metrics when measured."""
    keys = list(files[0].metrics or {})
    header = ["TFLite file", "size", "batch 1 (ms)", *keys]
    rows = [
        [Path(f.path).name, f"{f.size_bytes / 1e6:.2f} MB", f"{f.latency_ms:.2f}"]
        + [f"{(f.metrics or {}).get(k, float('nan')):.4f}" for k in keys]
        for f in files
    ]
    return header, rows


def report_markdown(job, base) -> str:
    import os

    header, rows = report_rows(job)
    lines = ["# lstmprune report", "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if job.files:
        header, rows = file_rows(job.files)
        lines += ["", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    if job.groups:
        lines += ["", "| group | units | kept | rate | energy kept |", "|---|---|---|---|---|"]
        for g in job.groups:
            lines.append(
                f"| {g['group']} | {g['units']} | {g.get('num_kept', '-')} | {_pct(g.get('rate'))} | "
                f"{_pct(g.get('energy_kept'))} |"
            )
    for plot in job.plots:
        lines += ["", f"![energy per group]({os.path.relpath(plot, base)})"]
    return "\n".join(lines) + "\n"


def sweep_table(result) -> Table:
    base, points = result.base, result.points
    keys = [k for k in (base.metrics or {}) if k != "loss"]
    table = Table(title="sweep", title_justify="left")
    latency = f"latency b{result.latency_batch} (ms)"
    for col in ["theta", "units kept", "parameters", "FLOPs per step", latency, "speedup", *keys]:
        table.add_column(col, justify="right")
    for p in [base, *points]:
        metrics = [f"{p.metrics[k]:.4f}" for k in keys] if p.metrics else []
        table.add_row(
            f"{p.theta:.2f}" if p.theta else "original",
            str(sum(p.kept.values())),
            _num(p.params),
            _num(p.flops_per_step),
            f"{p.latency_ms:.1f}",
            f"{base.latency_ms / p.latency_ms:.2f}x",
            *metrics,
        )
    return table
