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


@dataclass(frozen=True)
class Learning:
    """What `learn` learns and how it cuts: `method` toward theta of `budget` (or a fixed `penalty`); `criterion`
    and `allocate` (soft-gm's cut; for l0 and group-lasso `allocate` is learned or uniform); the floor per group;
    input gates (l0); soft-gm's period in steps (0: once per epoch); the compensation of the cut; the prior
    ranking (l0, group-lasso). None: the method's own default, resolved by the job."""

    method: str
    theta: float | None = None
    penalty: float | None = None
    budget: str = "units"
    criterion: str | None = None
    allocate: str | None = None
    min_units: int = 1
    inputs: bool = False
    every: int = 0
    compensate: str | None = None
    prior: str | None = None

    def check(self) -> Learning:
        """Refuse numbers that cannot work, before any data is read."""
        if self.theta is not None:
            checks.theta(self.theta)
        checks.penalty(self.penalty)
        checks.at_least(self.every, "every", 0)
        checks.at_least(self.min_units, "min_units", 1)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def trial_budget(epochs: int, steps: int | None, starts: int) -> tuple[int | None, list[int | None]]:
    """(batches each start trains before they are judged, batches of every epoch the chosen start trains).

    Every batch any start trains counts against `epochs` x `steps`: a trial takes at most one epoch and, with
    the other starts', at most half the budget, so a one-epoch budget judges after a fraction of it. Epoch 1
    of the chosen start includes its trial. steps None (unknown): the trials are whole epochs, the first of
    the budget (starts beyond it are not tried; the job decides that).
    """
    checks.at_least(epochs, "epochs", 1)
    if starts <= 1:
        return 0, [steps] * epochs
    if steps is None:
        return None, [None] * max(1, epochs - (starts - 1))
    trial = min(steps, max(1, epochs * steps // (2 * starts)))
    left = max(trial, epochs * steps - (starts - 1) * trial)  # the chosen start's batches, its trial included
    full, last = divmod(left, steps)
    return trial, [steps] * full + ([last] if last else [])
