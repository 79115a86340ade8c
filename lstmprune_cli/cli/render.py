"""Everything the user sees: rich tables and progress on stderr, JSON on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

err = Console(stderr=True)
out = Console()


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def emit_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=1) + "\n")


def progress(batches: Iterable, total: int, label: str = "analyze") -> Iterator:
    """Wrap an iterator of batches (B, ...) with a bar that counts sequences and shows their rate."""
    columns = [
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} seq/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(label, total=total, rate="-")
        for x in batches:
            yield x
            bar.advance(task, int(x.shape[0]))
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.0f}" if speed else "-")


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
        table.add_row(f"CPU latency, batch {result.batch} (ms)", f"{t0:.1f}", f"{t1:.1f}", f"{t0 / t1:.2f}x faster")
    return table


def prune_record(result, rows: list[dict]) -> dict:
    (p0, p1), (f0, f1) = result.params, result.flops
    record = {
        "out": result.out,
        "format": result.kind,
        "plan": result.plan.to_dict(),
        "groups": rows,
        "params": {"original": p0, "pruned": p1},
        "flops": {"original": f0, "pruned": f1, "length": result.length},
    }
    record["plan"].pop("groups")
    if result.latency_ms:
        t0, t1 = result.latency_ms
        record["latency_ms"] = {"batch": result.batch, "original": t0, "pruned": t1, "speedup": t0 / t1}
    return record
