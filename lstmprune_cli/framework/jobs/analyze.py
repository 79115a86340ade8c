"""analyze: one calibration pass over the data, in process or on Apache Beam."""

from __future__ import annotations

from ..stats.analysis import Analysis, AnalyzeResult, analyze

__all__ = ["Analysis", "AnalyzeResult", "analyze"]
