"""``train_policy``, the gui policy's trainer (the shipped run and benchmarks/webstar.py use
it): a tiny randomly initialised policy of the real architecture learns a handful of
reference turns, reproducibly from its seed, and rejects an empty set."""

from __future__ import annotations

import pytest
import torch

from stepsieve._errors import ConfigError
from stepsieve.backends.gui_policy import GuiPolicyNet, candidates, train_policy
from stepsieve.worlds.gui import GuiWorld

W = GuiWorld()


def _reference_turns(n_tasks: int) -> tuple[list[tuple[str, int]], list[str]]:
    data, vocab = [], set()
    for t in W.sample_tasks(n_tasks, 3, steps=(3, 5)):
        ref = W.reference(t)
        for k, act in enumerate(ref):
            prompt = W.prompt(t, ref[:k])
            task, ctx, cands = candidates(prompt)
            vocab |= {*ctx, *(w for c in cands for w in c.words), *task.lower().split()}
            data.append((prompt, [c.action for c in cands].index(act)))
    return data, sorted(vocab)


def _net(vocab: list[str]) -> GuiPolicyNet:
    torch.manual_seed(0)
    return GuiPolicyNet(vocab, dim=16, hidden=32)


def test_train_policy_fits_reference_turns_and_is_reproducible() -> None:
    data, vocab = _reference_turns(3)
    net = _net(vocab)
    seen: list[int] = []
    losses = train_policy(net, data, steps=60, batch=8, lr=2e-2, seed=1, on_step=lambda i, _: seen.append(i))
    assert seen == list(range(1, 61)) and len(losses) == 60
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5  # the loss falls
    assert not net.training
    # the policy now prefers the reference action on most of the turns it was trained on
    hits = sum(int(net.log_probs(p)[1].argmax()) == k for p, k in data)
    assert hits >= 0.75 * len(data)
    # the same seed gives the same run; a smaller set than the batch is reshuffled, not an error
    assert train_policy(_net(vocab), data, steps=5, batch=8, lr=2e-2, seed=1) == losses[:5]
    assert len(train_policy(_net(vocab), data[:3], steps=2, batch=8, seed=0)) == 2


def test_train_policy_rejects_an_empty_set() -> None:
    with pytest.raises(ConfigError, match="no training examples"):
        train_policy(_net(["a"]), [], steps=1)
