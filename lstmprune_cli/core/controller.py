"""'Where to Prune' (seed 002): an LSTM controller that reads one descriptor per group in network order and
emits each group's rate, trained by REINFORCE with a moving-average baseline. numpy only.

The reward of an episode is the negative measured output loss of the cut its rates give, after the rates
are scaled so that the network budget is met. The controller is seeded and returns the best cut it
evaluated, with its learning curve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

RATES = np.round(np.arange(0.05, 1.0, 0.1), 2)  # the actions: a group's rate, (A,)


@dataclass
class Policy:
    """An LSTM (inputs D, hidden Hc) and a softmax head over RATES; weights initialised from `seed`."""

    inputs: int
    hidden: int = 16
    seed: int = 0
    params: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        d, h, a = self.inputs, self.hidden, len(RATES)
        self.params = {
            "w": rng.normal(0, 1 / np.sqrt(d + h), (d + h, 4 * h)),  # gates i, f, o, g
            "b": np.concatenate([np.zeros(h), np.ones(h), np.zeros(2 * h)]),
            "v": rng.normal(0, 0.1, (h, a)),
            "c": np.zeros(a),
        }

    def forward(self, xs: np.ndarray) -> tuple[np.ndarray, list]:
        """Action probabilities (T, A) for descriptors xs (T, D), and what the backward pass needs."""
        p, h_dim = self.params, self.hidden
        h, c = np.zeros(h_dim), np.zeros(h_dim)
        probs, cache = [], []
        for x in xs:
            z = np.concatenate([x, h]) @ p["w"] + p["b"]  # (4H,)
            i, f, o = (1 / (1 + np.exp(-z[k * h_dim : (k + 1) * h_dim])) for k in range(3))
            g = np.tanh(z[3 * h_dim :])
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
            logits = h_new @ p["v"] + p["c"]
            e = np.exp(logits - logits.max())
            probs.append(e / e.sum())
            cache.append((x, h, c, i, f, o, g, c_new, h_new))
            h, c = h_new, c_new
        return np.array(probs), cache

    def gradients(self, xs: np.ndarray, actions: list[int], advantage: float) -> dict[str, np.ndarray]:
        """Gradient of advantage x sum_t log pi(a_t | x_<=t) with respect to every weight (backprop in time)."""
        probs, cache = self.forward(xs)
        p, h_dim = self.params, self.hidden
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        dh_next, dc_next = np.zeros(h_dim), np.zeros(h_dim)
        for t in reversed(range(len(xs))):
            x, h_prev, c_prev, i, f, o, g, c, h = cache[t]
            dlogits = -probs[t] * advantage
            dlogits[actions[t]] += advantage
            grads["v"] += np.outer(h, dlogits)
            grads["c"] += dlogits
            dh = p["v"] @ dlogits + dh_next
            dc = dh * o * (1 - np.tanh(c) ** 2) + dc_next
            dz = np.concatenate(
                [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dh * np.tanh(c) * o * (1 - o), dc * i * (1 - g**2)]
            )
            grads["w"] += np.outer(np.concatenate([x, h_prev]), dz)
            grads["b"] += dz
            back = p["w"] @ dz
            dh_next, dc_next = back[len(x) :], dc * f
        return grads


@dataclass
class Search:
    """What the controller did: the best rates, their loss, and each episode's loss."""

    rates: list[float]
    loss: float
    history: list[float]


def search(
    descriptors: np.ndarray,
    meet_budget: Callable[[np.ndarray], np.ndarray],
    loss: Callable[[np.ndarray], float],
    *,
    episodes: int = 40,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> Search:
    """Train the controller for `episodes` and return the best cut it evaluated.

    descriptors: (T, D), one row per group in network order. meet_budget: rates (T,) -> rates that meet
    the network budget. loss: rates (T,) -> the measured loss of that cut (lower is better).
    """
    policy = Policy(descriptors.shape[1], seed=seed)
    rng = np.random.default_rng(seed)
    baseline, best, history = None, None, []
    for _ in range(episodes):
        probs, _ = policy.forward(descriptors)
        actions = [int(rng.choice(len(RATES), p=pr)) for pr in probs]
        rates = meet_budget(RATES[actions])
        found = float(loss(rates))
        history.append(found)
        if best is None or found < best.loss:
            best = Search([float(r) for r in rates], found, history)
        reward = -found
        baseline = reward if baseline is None else 0.8 * baseline + 0.2 * reward
        for k, grad in policy.gradients(descriptors, actions, reward - baseline).items():
            policy.params[k] += learning_rate * grad
    best.history = history
    return best
