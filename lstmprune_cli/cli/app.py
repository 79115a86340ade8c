"""The `lstmprune` command line: one module per verb in `commands/`, each parsing its flags, calling its job and
rendering the record. TensorFlow is imported inside the jobs, after the flags are checked."""

from __future__ import annotations

import typer

from .commands import analyze, export, finetune, inspect, learn, merge, prune, report, sweep
from .errors import one_line_errors
from .options import Command

app = typer.Typer(
    help="Make trained LSTM models smaller and faster: eigenanalysis rates + geometric-median unit removal.\n\n"
    "Example:  lstmprune analyze model.keras --data dbs/  &&  lstmprune prune --theta 0.7 --out small.keras",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

VERBS = (analyze.analyze, prune.prune, export.export, finetune.finetune, learn.learn, report.report, sweep.sweep)
VERBS += (inspect.inspect, merge.merge)
for verb in VERBS:
    app.command(cls=Command)(one_line_errors(verb))


def main() -> None:
    app()
