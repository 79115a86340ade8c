"""Stage 4, statistics: the calibration pass (a probe on every group's hidden states, accumulated batch by
batch), in process (`analysis`) or as an Apache Beam pipeline (`beam`, imported only when asked for)."""

from .analysis import Analysis, AnalyzeResult, analyze
from .probe import Accumulator, accumulate, build_probe

__all__ = ["Accumulator", "Analysis", "AnalyzeResult", "accumulate", "analyze", "build_probe"]
