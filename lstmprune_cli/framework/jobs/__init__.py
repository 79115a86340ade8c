"""Stage 7, the verbs, one module per verb: each holds the verb as a library call returning a record with
`to_dict()`, and `run`, the verb as the CLI runs it on a workspace. The CLI calls `run` and renders; nothing
else."""

from . import analyze, export, finetune, inspect, learn, merge, prune, report, sweep

__all__ = ["analyze", "export", "finetune", "inspect", "learn", "merge", "prune", "report", "sweep"]
