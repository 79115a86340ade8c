"""The 'Where to Prune' controller: its gradients, and that REINFORCE finds the cheap cut of a known loss."""

import numpy as np

from lstmprune_cli.core import controller
from lstmprune_cli.core.controller import RATES, Policy


def test_policy_gradients_match_finite_differences():
    policy = Policy(inputs=3, hidden=4, seed=1)
    xs = np.random.default_rng(0).normal(size=(3, 3))
    actions, advantage = [2, 7, 0], 0.7

    def objective() -> float:
        probs, _ = policy.forward(xs)
        return advantage * float(sum(np.log(probs[t, a]) for t, a in enumerate(actions)))

    grads = policy.gradients(xs, actions, advantage)
    for name, value in policy.params.items():
        for index in [(0,) * value.ndim, tuple(s - 1 for s in value.shape)]:
            old = value[index]
            value[index] = old + 1e-6
            up = objective()
            value[index] = old - 1e-6
            down = objective()
            value[index] = old
            assert abs((up - down) / 2e-6 - grads[name][index]) < 1e-6, name


def test_reinforce_learns_to_cut_the_group_that_costs_nothing():
    """Two groups; cutting the first costs a lot, the second nothing: the best cut leaves the first whole."""
    descriptors = np.array([[1.0, 0.0], [0.0, 1.0]])

    def meet_budget(rates):
        return rates  # no budget: the loss alone decides

    def loss(rates):
        return 4.0 * rates[0] ** 2 + 0.1 * (1 - rates[1])

    found = controller.search(descriptors, meet_budget, loss, episodes=150, learning_rate=0.3, seed=0)
    assert found.rates[0] == RATES[0] and found.rates[1] >= RATES[-2]
    early, late = np.mean(found.history[:20]), np.mean(found.history[-20:])
    assert late < early / 2  # the policy learned, not only the search
