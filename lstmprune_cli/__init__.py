"""lstmprune: structured pruning of trained LSTM models by eigenanalysis and geometric median."""

__version__ = "0.1.0"
