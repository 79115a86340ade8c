"""Stage 7, the verbs as library calls, one module per verb; each returns a record with `to_dict()` that the
CLI only renders. The CLI calls these and nothing below them."""

from .analyze import analyze
from .export import export
from .finetune import finetune
from .learn import learn
from .prune import prune
from .report import report
from .sweep import sweep

__all__ = ["analyze", "export", "finetune", "learn", "prune", "report", "sweep"]
