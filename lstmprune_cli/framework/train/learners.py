"""Structure learned while training: ISS-L0 gates, ISS-GL group lasso and the paper's soft GM pruning.

Each learner rides `train.loop.fit` (its forward pass, its penalty, what it does after a step) and ends
in kept units per unit set; the trained model is then cut like any other, so the result is an ordinary
plan and a physically smaller model.

    small, plan, record = learn(model, "l0", batches, task, theta=0.7, epochs=5)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ...core import checks, learned
from ...core.errors import LstmpruneError
from ...core.plan import BUDGETS, Plan, PlanSpec, allocate, rank
from .. import models
from ..surgery.cut import prune_model
from ..surgery.groups import unit_groups
from ..surgery.units import UnitSet, entries, fold_means, scale_units, squared_norms, unit_sets, variable
from .cuts import compensated_cut, exact_cut, learned_plan, silence

# log_alpha = speed * v, the speed such that Adam's steps could move a gate this far over the learning steps: with
# a budget, little travel won (a prior's ranking spans 0.6), `python -m bench.learned_search`; a fixed penalty must
# be able to close a gate (from GATE_START to below -FULL_OPEN) over all steps
GATE_TRAVEL = 0.5
FIXED_TRAVEL = 16.0
GATE_START = 6.0  # initial log_alpha: every gate open (deterministic value 1), the noise small (P(z < 1) 0.012)
GATE_FLOOR = learned.FULL_OPEN  # with a prior: the initial log_alpha of the set's lowest-ranked gate (P(z < 1) 0.31)
# A prior ranking (the one-shot cut's criterion) spreads the initial log_alpha over [GATE_FLOOR, GATE_START] by
# percentile: the gates the prior ranks low start where the hard-concrete noise is largest, so the network learns to
# do without the units the cut will most likely remove (GATE_START 6 against 3: taken on Penn Treebank's validation
# windows, tied on the sample, `python -m bench.learned_search across`). Group lasso weights each unit's threshold
# by 1 / percentile (adaptive).
# The penalty controls below were checked on validation clips (`python -m bench.learned_search controls`: 3 and 30,
# 1.02 and 1.1, 1e-5 and 1e-3 gain at most 0.08 points over these at theta 0.9, within its 0.3-point tie)
GATE_GAIN = 10.0  # the L0 penalty's weight per unit of excess expected share (proportional control)
GL_START = 1e-4  # group lasso's first threshold per step, in units of a set's median unit norm at the start
GL_RISE = 1.05  # the threshold's growth per step while more units are alive than the target (its fall: 1 / RISE)
# With a budget, l0 and group-lasso learn the structure over this share of the steps (the kept share's target falls
# from 1 to the budget's), the cut is made and compensated there as `prune` makes it, and the rest of the steps
# train the cut model. Chosen on validation clips by `python -m bench.learned_search`
# (docs/results/learned_search.json).
LEARN = 0.2
CLOSINGS = 4  # with a budget, l0 and group-lasso close units this many times over their learning steps (unless their
# LEARNERS entry says), evenly, the last at the cut (so the cut removes exactly the closed units); the k-th closes the
# lowest-scored units that remove k / closings of theta, compensated as `prune` compensates a cut, and they stay closed
CLOSED = -20.0  # a closed gate's log_alpha: its hard-concrete sample is 0 for every noise the forward draws
SOFT_EVERY = 0  # soft pruning every this many steps; 0: SOFT_PRUNES times while it learns (unphased: once per epoch)
SOFT_PRUNES = 4  # a phased soft-gm silences this many times over its learning steps, evenly, the last at the cut,
# unless `every` says


@dataclass
class Learned:
    """What a learner ends in: the plan, the cut model, and what happened."""

    plan: Plan
    model: object
    record: dict = field(default_factory=dict)


class Learner:
    """The hooks `train.loop.fit` calls; the default trains the plain model."""

    variables: list = []

    def forward(self, model, x):
        return model(x, training=True)

    def penalty(self):
        return 0.0

    def after_step(self, model, x) -> None:
        """After each optimizer step, with the step's inputs."""

    def scores(self, model) -> list[np.ndarray]:
        """One score per unit of each set after training, higher kept first."""
        raise NotImplementedError

    def alive(self, scores: list[np.ndarray]) -> list[np.ndarray]:
        """Under a fixed penalty: the units the training left (the others are exactly out)."""
        raise NotImplementedError

    def kept(self, shapes, scores, removed, theta, penalty, allocation: str | None = None) -> list[np.ndarray]:
        """Each set's kept units: under a fixed penalty the units training left (tied sets padded with the next
        best), else the highest scores that meet the budget, over all sets or (allocate uniform) within each."""
        if penalty is None:
            choose = learned.select_uniform if allocation == "uniform" else learned.select
            return choose(shapes, scores, removed, theta)
        alive = self.alive(scores)
        counts = learned.counts_for(shapes, [a.astype(float) for a in alive], 0.5)
        return [np.sort(np.argsort(-(a + 1e-9 * v), kind="stable")[:c]) for a, v, c in zip(alive, scores, counts)]


class _Budget:
    """The kept share's target along the learning steps: it falls linearly from 1 to the budget's share."""

    def __init__(self, share: float, steps: int):
        self.share, self.steps, self.step = share, max(1, steps), 0

    def target(self) -> float:
        return 1 - min(1.0, self.step / self.steps) * (1 - self.share)


class Closing(Learner):
    """A learner whose budget is met by closings (`Setting.closings`): at evenly spaced learning steps, the last at
    the cut, the units its `current` scores rank lowest are closed (`shut`), the k-th closing removing k / n of theta
    by the plan's budget and allocation. Each closing is compensated as `prune` compensates a cut (`cuts.silence`:
    the cut of the model before it, compensated on the calibration batches, written back into its kept weights),
    and closed units are held closed after every step, so the cut removes exactly the units closed at its step."""

    def start_closings(self, setting, steps: int) -> None:
        budgeted = setting is not None and setting.penalty is None and setting.theta is not None
        n = setting.closings if setting is not None else CLOSINGS
        self.at = {round(k * steps / n): k for k in range(1, n + 1)} if budgeted else {}
        self.count = n
        self.setting = setting
        self.closed = [np.zeros(s.units, bool) for s in self.sets]
        self.closings: list[list[int]] = []  # every closing: step, units closed (tied directions once), and how many
        # of those newly closed the penalty had not already left out
        self.final: list[np.ndarray] | None = None  # the last closing's kept units: the cut's

    def current(self, model) -> list[np.ndarray]:
        raise NotImplementedError

    def shut(self, model, unit_set: UnitSet, removed: np.ndarray) -> None:
        """Close the units `removed` (U,) marks: their output reaches nothing."""
        raise NotImplementedError

    def silent(self, model) -> list[np.ndarray]:
        """Each set's units that training itself left out (a gate at 0, a unit at zero)."""
        raise NotImplementedError

    def hold(self, model) -> None:
        """Close again the units closed before (a step's update may have moved them)."""
        for s, closed in zip(self.sets, self.closed):
            if closed.any():
                self.shut(model, s, closed)

    def close(self, model, step: int) -> None:
        """The closing due at `step`, if any."""
        k = self.at.get(step)
        if k is None:
            return
        st = self.setting
        shapes = set_shapes(self.sets, st.min_units)
        kept = Learner.kept(
            self, shapes, self.current(model), st.removed, st.theta * k / self.count, None, st.allocation
        )
        cut, compensate = {}, st.compensate if k == self.count else st.between or st.compensate
        if compensate != "none" and st.calibration is not None:
            cut = dict(method="closing", compensate=compensate, calibration=st.calibration)
        removed = [~np.isin(np.arange(s.units), picked) for s, picked in zip(self.sets, kept)]
        alive = sum(int(np.sum(r & ~q & ~c)) for r, q, c in zip(removed, self.silent(model), self.closed))
        silence(model, self.sets, kept, lambda s, out: self.shut(model, s, out), **cut)
        self.closed = removed
        self.closings.append([step, sum(int(c.sum()) for c in self.closed), alive])
        self.final = kept if k == self.count else None

    def kept(self, shapes, scores, removed, theta, penalty, allocation=None) -> list[np.ndarray]:
        """The last closing's kept units when it was made at the cut, else as `Learner.kept`."""
        if self.final is not None and penalty is None:
            return self.final
        return super().kept(shapes, scores, removed, theta, penalty, allocation)


class Gates(Closing):
    """ISS-L0 (seed 003): a hard-concrete gate on every unit, scaling the rows that read it.

    `penalty` fixed: its weight times the expected share of open gates; the plan removes the gates it closed.
    Otherwise the expected share s is held to a target t that falls from 1 to the budget's share over the
    learning phase: the penalty lambda (s - t) has lambda = GATE_GAIN (s - t) after every step (proportional
    control; the dual ascent of CoFi oscillated between 0.15 and 0.9 of the units on the AudioSet sample within
    five epochs), and the units with the lowest log_alpha are closed as `Closing` closes them: the gate's log_alpha
    at CLOSED (every sample 0) and the rows that read it zero, compensated on the model its deterministic gates
    compute (`close`).
    """

    def __init__(
        self,
        model,
        sets: list[UnitSet],
        *,
        share: float,
        steps: int,
        penalty: float | None,
        seed: int,
        lr: float,
        setting=None,
    ):
        import tensorflow as tf

        self.sets, self.fixed = sets, penalty
        travel = GATE_TRAVEL if penalty is None else FIXED_TRAVEL
        self.speed = travel / (lr * max(1, steps))  # (the weights' Adam steps are about lr each)
        p = np.concatenate(priors(sets, setting))  # (N,) in (0, 1]
        start = GATE_START - (GATE_START - GATE_FLOOR) * (1 - p)
        self.v = tf.Variable((start / self.speed).astype("float32"), name="log_alpha")
        self.variables = [self.v]
        self.weight = tf.constant(np.concatenate([np.full(s.units, s.members) for s in sets]), tf.float32)
        self.lam = tf.Variable(0.0 if penalty is None else float(penalty), trainable=False)
        self.target = tf.Variable(1.0, trainable=False)
        self.budget = _Budget(share, steps)
        self.rng = tf.random.Generator.from_seed(seed)
        self.rows = _row_gathers(model, sets)
        self.offsets = dict(zip([s.name for s in sets], np.cumsum([0] + [s.units for s in sets])))
        self.trace: list[list[float]] = []  # every 10 steps: step, expected kept share, its target, lambda
        self.start_closings(setting, steps)

    def _log_alpha(self):
        return self.v * self.speed

    def _share(self):
        import tensorflow as tf

        p = tf.sigmoid(self._log_alpha() - learned.OPEN_SHIFT)  # (N,) P(z != 0)
        return tf.reduce_sum(p * self.weight) / tf.reduce_sum(self.weight)

    def forward(self, model, x):
        import tensorflow as tf

        u = self.rng.uniform(self.v.shape, 1e-6, 1 - 1e-6)
        s = tf.sigmoid((tf.math.log(u) - tf.math.log(1 - u) + self._log_alpha()) / learned.BETA)
        z = tf.clip_by_value(s * (learned.ZETA - learned.GAMMA) + learned.GAMMA, 0.0, 1.0)  # (N,)
        return scaled_call(model, x, self.rows, z)

    def penalty(self):
        if self.fixed is not None:
            return self.lam * self._share()
        return self.lam * (self._share() - self.target)

    def after_step(self, model, x) -> None:
        if self.fixed is not None:
            return
        self.budget.step += 1
        self.lam.assign(GATE_GAIN * (float(self._share()) - self.budget.target()))  # < 0 below it: gates reopen
        if self.budget.step % 10 == 0:
            self.trace.append([self.budget.step, float(self._share()), self.budget.target(), float(self.lam)])
        self.target.assign(self.budget.target())
        self.hold(model)
        self.close(model, self.budget.step)

    def close(self, model, step: int) -> None:
        """As `Closing.close`, on the model the deterministic gates compute: the open gates' values are folded into
        the rows they multiply while the closing is compensated and taken out after, so that the model gated at its
        deterministic gates computes the compensated cut (a gate at 0 that stays open is left out of the fold)."""
        if step not in self.at:
            return
        folds = [np.where(g > 0, g, 1.0) for g in map(learned.deterministic_gate, self.current(model))]
        for s, f in zip(self.sets, folds):
            scale_units(model, s, f, slots="outgoing")
        super().close(model, step)
        for s, f, closed in zip(self.sets, folds, self.closed):
            scale_units(model, s, np.where(closed, 0.0, 1 / f), slots="outgoing")

    def silent(self, model) -> list[np.ndarray]:
        return [learned.deterministic_gate(v) == 0 for v in self.current(model)]

    def shut(self, model, unit_set: UnitSet, removed: np.ndarray) -> None:
        scale_units(model, unit_set, (~removed).astype(float), slots="outgoing")
        v = self.v.numpy()
        v[self.offsets[unit_set.name] + np.flatnonzero(removed)] = CLOSED / self.speed
        self.v.assign(v)

    def current(self, model) -> list[np.ndarray]:
        la = self.v.numpy().astype(np.float64) * self.speed
        return list(np.split(la, np.cumsum([s.units for s in self.sets])[:-1]))

    def alive(self, scores: list[np.ndarray]) -> list[np.ndarray]:
        return [learned.deterministic_gate(v) > 0 for v in scores]

    def scores(self, model) -> list[np.ndarray]:
        """log_alpha of each set's gates; the deterministic gates are folded into the rows they scale."""
        found = self.current(model)
        for s, la in zip(self.sets, found):
            scale_units(model, s, learned.deterministic_gate(la), slots="outgoing")
        return found


class GroupLasso(Closing):
    """ISS-GL (Wen et al.): after every step the proximal operator of lambda * sum of group norms,
    w_g <- w_g * max(0, 1 - tau / ||w_g||), on all of a unit's weights (every slot), so whole units reach exact
    zero. Norms are measured in units of the set's median unit norm at the start (layers differ in scale).

    `penalty` fixed: tau per step, and the plan removes the units at zero. With a budget, tau starts at
    GL_START and rises by GL_RISE per step while more units are alive than the target (falls while fewer), and the
    units with the smallest scores are closed (every weight zero) as `Closing` closes them.
    """

    def __init__(self, model, sets: list[UnitSet], *, share: float, steps: int, penalty: float | None, setting=None):
        self.sets, self.fixed = sets, penalty
        self.sizes = [np.sqrt(entries(s, model)) for s in sets]
        self.sizes = [size * np.median(v) for size, v in zip(self.sizes, self._strengths(model))]  # median: 1
        self.prior = priors(sets, setting)
        self.start = self._strengths(model) if setting is not None and setting.prior else None
        self.lam = GL_START if penalty is None else float(penalty)
        self.budget = _Budget(share, steps)
        self.weight = np.array([s.members * s.units for s in sets], float)
        self.trace: list[list[float]] = []  # every 10 steps: step, share of units alive, its target, tau
        self.start_closings(setting, steps)

    def _strengths(self, model) -> list[np.ndarray]:
        return [np.sqrt(squared_norms(model, s)) / size for s, size in zip(self.sets, self.sizes)]

    def after_step(self, model, x) -> None:
        if self.fixed is None:
            self.budget.step += 1
        strengths = self._strengths(model)
        tau = self.lam
        for s, v, p in zip(self.sets, strengths, self.prior):
            factors = np.where(v > tau / p, 1 - tau / p / np.maximum(v, 1e-30), 0.0)
            scale_units(model, s, factors)
        if self.fixed is None:
            alive = sum(np.sum(v > tau / p) * s.members for s, v, p in zip(self.sets, strengths, self.prior))
            alive /= self.weight.sum()
            target = self.budget.target()
            self.lam = tau * GL_RISE if alive > target else max(GL_START, tau / GL_RISE)
            if self.budget.step % 10 == 0:
                self.trace.append([self.budget.step, float(alive), target, float(tau)])
            self.hold(model)
            self.close(model, self.budget.step)

    def shut(self, model, unit_set: UnitSet, removed: np.ndarray) -> None:
        scale_units(model, unit_set, (~removed).astype(float))

    def silent(self, model) -> list[np.ndarray]:
        return [v == 0 for v in self._strengths(model)]

    def close(self, model, step: int) -> None:
        """As `Closing.close`; with a prior, the strengths the scores measure the share left of start again where a
        closing's compensation rewrote them (the rows that read the kept units)."""
        super().close(model, step)
        if self.start is not None and step in self.at:
            self.start = self._strengths(model)

    def scores(self, model) -> list[np.ndarray]:
        """Each unit's strength; with a prior, the share of its starting strength left, times its percentile."""
        found = self._strengths(model)
        if self.start is None:
            return found
        return [p * v / np.maximum(v0, 1e-30) for p, v, v0 in zip(self.prior, found, self.start)]

    current = scores

    def alive(self, scores: list[np.ndarray]) -> list[np.ndarray]:
        return [v > 0 for v in scores]


class SoftPruning(Learner):
    """The paper's training (ISS-GM as in its Table II): every `every` steps (0: SOFT_PRUNES times evenly over
    `steps`, the last at the end, so the cut removes exactly the units silenced there) the units that the plan's
    rates and the criterion, on the current weights, would remove are silenced (their own columns zeroed); between
    prunings they regrow through the rows that read them. Each silencing is compensated as `prune` compensates a
    cut (`compensate` on the `calibration` batches: the cut of the model before it, compensated, written back into
    the model's kept weights); without calibration batches, each newly silenced unit's mean output on the step's
    inputs goes into the biases that read it. The hard cut is the ranking after the last step."""

    def __init__(
        self,
        model,
        sets: list[UnitSet],
        *,
        counts: dict[str, int],
        spec: PlanSpec,
        every: int,
        steps: int = 0,
        compensate: str = "none",
        calibration: Callable[[], Iterable] | None = None,
        statistics=None,
    ):
        from ..surgery.groups import model_groups

        self.sets, self.counts, self.spec, self.every = sets, counts, spec, max(0, every)
        self.at = {round(k * steps / SOFT_PRUNES) for k in range(1, SOFT_PRUNES + 1)} if not every else set()
        self.compensate, self.calibration, self.statistics = compensate, calibration, statistics
        self.groups = model_groups(model)
        self.step, self.probe, self.last = 0, None, None
        self.ranked: tuple[int, dict] | None = None  # the step of the last silencing and its ranking
        self.zeroed: list[dict[str, np.ndarray]] = []  # the units zeroed at each pruning, by set

    @property
    def compensated(self) -> bool:
        """Whether each silencing is compensated as `prune` compensates a cut (else: the step's means, if any)."""
        return self.compensate != "none" and self.calibration is not None

    def _ranked(self, model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The criterion's ranking of the model as it stands: its weights; obs also its consumers' rows and the
        covariance of its states on the calibration batches (without them, the analyzed statistics)."""
        from ..prune.planner import unit_vectors
        from ..stats.probe import accumulate, build_probe
        from ..surgery.groups import consumer_rows

        vectors = unit_vectors(model, self.groups)
        if self.spec.criterion != "obs":
            return rank(self.groups, num_kept=self.counts, vectors=vectors, spec=self.spec)
        stats = self.statistics.stats if self.statistics is not None else None
        if self.calibration is not None:  # silenced units' states are 0 now: the analyzed covariance no longer holds
            every_step = bool(getattr(self.statistics, "every_step", False))
            stats = accumulate(build_probe(model, self.groups, every_step), self.calibration())
        found = dict(stats=stats, consumers=consumer_rows(model, self.groups))
        return rank(self.groups, num_kept=self.counts, vectors=vectors, spec=self.spec, **found)

    def prune(self, model, x=None) -> None:
        """Silence every unit the current ranking removes, compensated (see the class)."""
        ranked = self._ranked(model)
        self.ranked = (self.step, ranked)
        kept = [ranked[s.groups[0].name][0] for s in self.sets]
        means = self._means(model, x) if x is not None and not self.compensated else {}

        def zero(unit_set: UnitSet, removed: np.ndarray) -> None:
            if unit_set.name in means:
                fold_means(model, unit_set, means[unit_set.name] * removed)
            scale_units(model, unit_set, (~removed).astype(float), slots="incoming")  # regrows through its readers

        cut = dict(method="soft-gm", compensate=self.compensate, calibration=self.calibration)
        silence(model, self.sets, kept, zero, **(cut if self.compensated else {}))
        self.zeroed.append({s.name: np.setdiff1d(np.arange(s.units), k) for s, k in zip(self.sets, kept)})

    def _means(self, model, x) -> dict[str, np.ndarray]:
        from ..stats.probe import build_probe

        if self.probe is None:
            self.probe = build_probe(model, self.groups)
        found = {g.name: z.mean(axis=0) for g, z in self.probe.responses(x)}  # (H,) final-state means
        return {s.name: found[s.groups[0].name] for s in self.sets if len(s.groups) == 1}

    def after_step(self, model, x) -> None:
        self.step += 1
        if (self.step % self.every == 0) if self.every else (self.step in self.at):
            self.prune(model, x)
        self.last = x

    def scores(self, model) -> list[np.ndarray]:
        if self.ranked is None or self.ranked[0] != self.step:  # not silenced at the last step
            if not self.compensated:  # the hard cut removes exactly the units it silences now
                self.prune(model, self.last)
            else:  # compensated: the cut is compensated as a silencing would be
                return [self._ranked(model)[s.groups[0].name][1] for s in self.sets]
        return [self.ranked[1][s.groups[0].name][1] for s in self.sets]  # the units silenced last

    def kept(self, shapes, scores, removed, theta, penalty, allocation=None) -> list[np.ndarray]:
        """The plan's counts, the best-ranked units: those the last pruning left."""
        counts = [self.counts[s.groups[0].name] for s in self.sets]
        return [np.sort(np.argsort(-v, kind="stable")[:c]) for v, c in zip(scores, counts)]


def _row_gathers(model, sets: list[UnitSet]) -> list[tuple[object, np.ndarray]]:
    """For every kernel with rows that read gated units: (variable, (rows,) index into [1, z...])."""
    index: dict[int, tuple[object, np.ndarray]] = {}
    at = 0
    for s in sets:
        for slot in s.slots:
            if not slot.outgoing:
                continue
            var = variable(model, slot)
            _, rows = index.setdefault(id(var), (var, np.zeros(var.shape[0], np.int32)))
            for k in range(slot.index.shape[1]):
                rows[slot.index[:, k]] = 1 + at + np.arange(s.units)
        at += s.units
    return list(index.values())


def scaled_call(model, x, rows, z, training: bool = True):
    """The model with each kernel row that reads unit j multiplied by z_j (stateless: the variables stay)."""
    import keras
    import tensorflow as tf

    ext = tf.concat([tf.ones(1), z], axis=0)
    mapping = [(var, var.value * tf.gather(ext, idx)[:, None]) for var, idx in rows]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        p = model(x, training=training)
    for var in model.non_trainable_variables:  # dropout seeds, normalisation statistics
        value = scope.get_current_value(var)
        if value is not None:
            var.assign(value)
    return p


def budget_removed(model, sets: list[UnitSet], budget: str) -> Callable[[list[int]], float]:
    """kept counts per set -> the share of the budget's measure they remove (units, params or FLOPs per step)."""
    from ..models import costs

    shapes = set_shapes(sets)
    if budget == "units":
        return learned.units_removed(shapes)
    length = model.inputs[0].shape[1] or 1
    full = costs.flops(model, length)["per_step"] if budget == "flops" else model.count_params()
    seen: dict[tuple, float] = {}

    def removed(counts: list[int]) -> float:
        key = tuple(counts)
        if key not in seen:
            kept = {g.name: np.arange(c) for s, c in zip(sets, counts) for g in s.groups}
            inputs = {s.reader: np.arange(c) for s, c in zip(sets, counts) if s.reader}
            small = prune_model(model, kept, inputs=inputs)
            now = costs.flops(small, length)["per_step"] if budget == "flops" else small.count_params()
            seen[key] = 1 - now / full
        return seen[key]

    return removed


def priors(sets: list[UnitSet], setting=None) -> list[np.ndarray]:
    """Each set's units' percentiles by the setting's prior scores (by group name), in (0, 1]: all 1 without a
    prior; a set the prior does not rank (input features) sits at the median, 0.5."""
    found = (setting.prior if setting is not None else None) or {}
    return [
        learned.percentiles(found[s.groups[0].name])
        if s.groups and s.groups[0].name in found
        else np.full(s.units, 0.5 if found else 1.0)
        for s in sets
    ]


def set_shapes(sets: list[UnitSet], floor: int = 1) -> list[learned.SetShape]:
    return [learned.SetShape(s.name, s.units, s.members, s.tie, min(floor, s.units)) for s in sets]


def kept_share(sets: list[UnitSet], removed: Callable[[list[int]], float], theta: float) -> float:
    """The share of units to keep so that one rate for every set removes theta of the budget's measure."""
    low, high = 0.0, 1.0
    for _ in range(20):
        mid = (low + high) / 2
        counts = [max(1, round((1 - mid) * s.units)) for s in sets]
        low, high = (mid, high) if removed(counts) < theta else (low, mid)
    return 1 - high


@dataclass
class Setting:
    """What a learner is built from: the model's unit sets, the kept share to reach, and the run's settings."""

    sets: list[UnitSet]
    share: float
    steps: int
    theta: float | None
    penalty: float | None
    min_units: int
    seed: int
    learning_rate: float
    every: int
    spec: PlanSpec | None
    statistics: object
    removed: Callable[[list[int]], float] | None = None  # kept counts per set -> share of the budget removed
    prior: dict[str, np.ndarray] | None = None  # scores of a one-shot criterion by group name: where learning starts
    compensate: str = "none"  # how the cut is compensated (soft-gm: each silencing too)
    calibration: Callable[[], Iterable] | None = None  # the batches compensation reads
    allocation: str | None = None  # l0, group-lasso: how their closings and cut spread the budget (LEARNED_ALLOCATIONS)
    closings: int = CLOSINGS  # l0, group-lasso with a budget: how many times they close units (Method.closings)
    between: str | None = None  # how each closing before the last is compensated (Method.between; None: as the cut)


def _gates(model, s: Setting) -> Learner:
    settings = dict(share=s.share, steps=s.steps, penalty=s.penalty, seed=s.seed, lr=s.learning_rate)
    return Gates(model, s.sets, **settings, setting=s)


def _group_lasso(model, s: Setting) -> Learner:
    return GroupLasso(model, s.sets, share=s.share, steps=s.steps, penalty=s.penalty, setting=s)


def _soft(model, s: Setting) -> Learner:
    if s.statistics is None:
        raise LstmpruneError("soft-gm takes its rates from the statistics; run analyze first")
    spec = s.spec or soft_spec(LEARNERS["soft-gm"], s.theta, min_units=s.min_units)  # learn passes the same
    counts, _, _ = allocate(s.statistics.groups, eigenvalues=s.statistics.eigenvalues(), spec=spec)
    return SoftPruning(
        model,
        s.sets,
        counts=counts,
        spec=spec,
        every=s.every,
        steps=s.steps,
        compensate=s.compensate,
        calibration=s.calibration,
        statistics=s.statistics,
    )


@dataclass(frozen=True)
class Method:
    """One entry of LEARNERS: how to make its learner, and what it takes."""

    make: Callable[[object, Setting], Learner]
    penalty: bool = True  # a fixed penalty (--penalty) may stand for the budget (theta)
    prior: str | None = "obs"  # the ranking it starts from when the model was analyzed (--prior); None: takes none
    phased: bool = True  # with a budget: learn over its share of the steps, cut, train the cut model over the rest
    learn: float | None = None  # that share; None: LEARN
    statistics: bool = False  # its rates come from analyze's statistics, its cut from --allocate and --criterion
    allocation: str = "learned"  # with --theta and no --allocate: LEARNED_ALLOCATIONS' entry it cuts by (a learner
    # with statistics: the --allocate of its rates)
    criterion: str = "gm"  # a learner with statistics: the --criterion that ranks its units
    closings: int = CLOSINGS  # a Closing learner with a budget: how many times it closes units, the last at the cut
    between: str | None = None  # the compensation of each closing before the last (None: --compensate's)


LEARNERS: dict[str, Method] = {
    # ISS-L0 (seed 003): hard-concrete gates, expected L0 held to the budget; it closes its gates once, at the cut:
    # four closings tied that on the clips and on Penn Treebank, and on a tie the simpler stays (learned_search across)
    "l0": Method(_gates, closings=1),
    # ISS-GL: proximal group soft-threshold on every weight of a unit; uniform rates chosen on validation clips, the
    # OBS prior (adaptive thresholds) on validation windows of Penn Treebank, tied on the clips; it closes its units
    # once, at the cut: four closings lost 1.6 points on the clips and tied on Penn Treebank (learned_search across)
    "group-lasso": Method(_group_lasso, allocation="uniform", closings=1),
    # ISS-GM's soft pruning (units silenced, each silencing compensated, free to regrow) over half the steps, then
    # the hard cut and the cut trained as l0's; uniform rates and the phases chosen on validation clips (the paper:
    # its own rates, soft pruning over every step; learned_search soft), the OBS ranking of the model as it stands
    # over the paper's geometric median on validation clips and windows (learned_search across)
    "soft-gm": Method(
        _soft, penalty=False, statistics=True, prior=None, allocation="uniform", learn=0.5, criterion="obs"
    ),
}


def soft_spec(
    entry: Method, theta: float, *, allocate: str | None = None, criterion: str | None = None, **settings
) -> PlanSpec:
    """The cut of a learner that takes its rates from the statistics: its registered allocation and criterion
    unless `allocate` or `criterion` names others (`--allocate`, `--criterion` names); compensate "none" (learn's
    own --compensate compensates each silencing and the cut); settings: min_units, seed, budget."""
    from ...core.recipe import Recipe

    recipe = Recipe.of(allocate=allocate or entry.allocation, criterion=criterion or entry.criterion, compensate="none")
    return recipe.spec(theta, **settings)


def learning_share(method: str) -> float:
    """The share of the steps a phased learner learns its structure over: its entry's, else LEARN."""
    share = LEARNERS[method].learn
    return LEARN if share is None else share


def methods() -> list[str]:
    """The names `learn --method` takes: every registered learner."""
    return list(LEARNERS)


LEARNED_ALLOCATIONS = ("learned", "uniform")  # --allocate of a learner that ranks units itself: its scores choose
# how many units each group keeps (one ranking over all groups), or every group is cut at theta


def check_method(
    method: str,
    *,
    theta: float | None,
    penalty: float | None,
    cut_flags: bool = False,
    prior: bool = False,
    allocation: str | None = None,
) -> Method:
    """The registered learner `method`, refused with one line when its budget, prior or allocation is not given as
    it takes them. cut_flags: --criterion (or an allocation) chooses the cut, which only soft-gm takes."""
    checks.choice(method, methods(), "method")
    entry = LEARNERS[method]
    if entry.penalty and (theta is None) == (penalty is None):
        raise LstmpruneError(f"learn --method {method} takes --theta or --penalty, one of them")
    if not entry.penalty and (theta is None or penalty is not None):
        raise LstmpruneError(f"learn --method {method} takes --theta (its rates' target), not --penalty")
    if cut_flags and not entry.statistics:
        raise LstmpruneError(f"--criterion and --allocate choose soft-gm's cut; {method} learns its own")
    if allocation is not None and not entry.statistics:
        if allocation not in LEARNED_ALLOCATIONS or penalty is not None:
            raise LstmpruneError(
                f"learn --method {method} takes --allocate learned or uniform (its scores choose how many units each "
                f"group keeps, or each group is cut at theta) with --theta; received --allocate {allocation}"
                + (" with --penalty" if penalty is not None else "")
            )
    if prior and entry.prior is None:
        raise LstmpruneError(f"learn --method {method} takes no --prior; its ranking is its criterion's")
    return entry


def learn(
    model,
    method: str,
    train: Callable[[], Iterable],
    task,
    *,
    theta: float | None,
    budget: str = "units",
    penalty: float | None = None,
    min_units: int = 1,
    spec: PlanSpec | None = None,
    statistics=None,
    every: int = SOFT_EVERY,
    steps_per_epoch: int | None = None,
    seed: int = 0,
    inputs: bool = False,
    compensate: str = "none",
    calibration: Callable[[], Iterable] | None = None,
    prior: dict[str, np.ndarray] | None = None,
    allocation: str | None = None,
    validation: Callable[[], Iterable] | None = None,
    at_cut: Callable[[object], dict] | None = None,
    **training,
) -> Learned:
    """Train `model` in place with `method`, then cut it: the plan, the smaller model, and the record.

    theta and budget as in `prune`; `penalty` (l0, group-lasso) fixes the penalty instead of a budget, and the
    plan then removes exactly the closed gates or the units at zero. soft-gm takes the allocation and the
    criterion from `spec` (the paper's by default) and needs the statistics for the rates. `inputs` (l0): gates
    on the input features of the first recurrent layers too (Embedding dimensions, or raw features), counted in
    the budget like units. `prior` (l0, group-lasso): a one-shot criterion's scores by group name, the ranking
    the learner starts from. `allocation` (l0, group-lasso): "uniform" cuts every group at the same rate, the learned
    scores choosing which units; "learned" lets the scores choose how many too (one ranking over all groups); None:
    the method's own default (LEARNERS). `validation`: the batches that choose the best epoch of the cut model's
    training (as finetune's), while the structure moves the last epoch is kept. `at_cut(model)`: scores of the
    compensated cut right after the cut, before it trains (`record["at_cut"]`).
    """
    from .loop import fit

    check_method(method, theta=theta, penalty=penalty, prior=bool(prior), allocation=allocation)
    allocation = allocation or LEARNERS[method].allocation
    if LEARNERS[method].statistics and spec is None and theta is not None:  # its registered rates, the GM ranking
        spec = soft_spec(LEARNERS[method], theta, min_units=min_units, budget=budget)
    checks.choice(budget, BUDGETS, "budget")
    if penalty is not None and (not np.isfinite(penalty) or penalty < 0):
        raise LstmpruneError(f"penalty must be a number >= 0; received {penalty}", option="penalty")
    if inputs and method != "l0":
        raise LstmpruneError(f"input neurons are selected by l0 gates; received method {method}", option="inputs")
    fingerprint = models.fingerprint(model)
    sets = unit_sets(model, inputs)
    if not sets:
        raise LstmpruneError("the model has no prunable recurrent group")
    removed = budget_removed(model, sets, budget)
    share = 1.0 if theta is None else kept_share(sets, removed, theta)
    epochs = int(training.get("epochs", 3))
    if method == "soft-gm" and steps_per_epoch is None and every == 0:
        raise LstmpruneError("soft-gm prunes once per epoch: give steps_per_epoch or every", option="every")
    per = steps_per_epoch or sum(1 for _ in train())
    total = epochs * per
    phased = LEARNERS[method].phased and penalty is None
    steps = max(1, min(total, round(learning_share(method) * total))) if phased else total
    setting = Setting(
        sets=sets,
        share=share,
        steps=steps,
        theta=theta,
        penalty=penalty,
        min_units=min_units,
        seed=seed,
        learning_rate=float(training.get("learning_rate", 1e-3)),
        every=every or (0 if phased else per),  # 0: SOFT_PRUNES times over the learning steps, the last at the cut
        spec=spec,
        statistics=statistics,
        removed=removed,
        prior=prior,
        compensate=compensate,
        calibration=calibration,
        allocation=allocation,
        closings=LEARNERS[method].closings,
        between=LEARNERS[method].between,
    )
    start = time.perf_counter()
    stream = _Stream(train)
    learner = LEARNERS[method].make(model, setting)
    batches, count = stream.take(steps, per)
    learning = {**training, "epochs": count} | ({"schedule": "constant"} if phased else {})
    result = fit(model, batches, task, steps_per_epoch=per, learner=learner, **learning)
    scores = learner.scores(model)
    kept = learner.kept(set_shapes(sets, min_units), scores, removed, theta, penalty, allocation)
    plan = learned_plan(fingerprint, unit_groups(model), sets, kept, scores, theta, method, min_units, seed)
    if penalty is None and not LEARNERS[method].statistics:
        plan.extra["allocate"] = allocation  # how many units each group kept: its scores', or theta's in each
    exact = exact_cut(sets, kept, model)
    small = compensated_cut(model, plan, compensate, calibration)
    tick = time.perf_counter()
    scored = {"at_cut": at_cut(small)} if at_cut is not None else {}
    start += time.perf_counter() - tick  # the scoring is not the learner's time
    history = [{"phase": "learn", **e.to_dict()} for e in result.epochs]
    if phased:  # the cut model trains over the rest: it is the model written, so the cut loses nothing of it
        exact = {"removed_alive": 0, "exact": True, "cut": {"step": steps, **exact}}
        if total > steps:
            batches, count = stream.take(total - steps, per)
            tuning = {**training, "epochs": count, "validation": validation}
            tuned = fit(small, batches, task, steps_per_epoch=per, **tuning)
            history += [{"phase": "train", **e.to_dict()} for e in tuned.epochs]
    seconds = time.perf_counter() - start
    phases = {"learn_steps": steps, "train_steps": total - steps if phased else 0}
    plan.extra.update(
        budget=budget,
        learned={"method": method, "penalty": penalty, "seconds": seconds, "epochs": epochs, **phases, **exact},
    )
    record = {"epochs": history, "seconds": seconds, **phases, **exact, **scored}
    if getattr(learner, "trace", None):
        record["trace"] = learner.trace
    if getattr(learner, "closings", None):
        record["closings"] = learner.closings  # step, units closed
    return Learned(plan, small, record)


class _Stream:
    """The training batches as one stream over repeated passes; `take` hands the next of them to `fit`."""

    def __init__(self, train: Callable[[], Iterable]):
        self.train, self.batches = train, iter(())

    def next(self):
        for _ in range(2):
            try:
                return next(self.batches)
            except StopIteration:
                self.batches = iter(self.train())
        raise LstmpruneError("the training data gave no sequences")

    def take(self, count: int, per: int) -> tuple[Callable[[], Iterable], int]:
        """A `train` for `fit` whose epochs give `per` batches each, `count` in all; and its number of epochs."""
        left = [count]

        def batches():
            n = min(per, left[0])
            left[0] -= n
            for _ in range(n):
                yield self.next()

        return batches, -(-count // per)
