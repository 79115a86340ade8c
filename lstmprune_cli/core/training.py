"""The training options finetune, learn and sweep share, as one record checked where it is made."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import checks


@dataclass(frozen=True)
class Training:
    """How a verb trains: epochs, batches, the optimizer and its schedule, distillation, the loss, the seed.

    `loss` is a name of the task registry (`auto`: the model's compile settings, else its output); `alpha` the
    weight of the teacher's loss when `distill` is on; `max_samples` caps the sequences of an epoch.
    """

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    distill: bool = True
    alpha: float = 0.5
    patience: int = 2
    loss: str = "auto"
    seed: int = 0
    max_samples: int | None = None
    strategy: str = "none"

    def check(self, *, fewest_epochs: int = 1) -> Training:
        """Refuse settings that cannot work, before any data is read; `fewest_epochs` 0 where training is
        optional (sweep)."""
        checks.at_least(self.epochs, "epochs", fewest_epochs)
        checks.training(
            epochs=max(self.epochs, 1),
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            seed=self.seed,
            alpha=self.alpha,
            patience=self.patience,
            max_samples=self.max_samples,
        )
        return self

    def to_dict(self) -> dict:
        return asdict(self)
