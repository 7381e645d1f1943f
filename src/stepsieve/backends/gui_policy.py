"""The embedded GUI policy: a tiny element-ranking model behind the Backend protocol.

It reads what any model of the ``gui`` world reads, the prompt text (``Task: ...``, the
screen's accessibility tree), and writes one action line. Like MindAct's element ranker it
does not spell coordinates: it scores a closed set of candidate actions built from the
prompt (a click at the centre of each clickable element of the tree, typing a number or a
phrase of the task into the focused field, scrolling the list, Escape, ``done()``) and samples
one from ``softmax(scores / T)``. Why not a character-level LM like the arith policy: reading
a 250-token tree per turn, a million-parameter LM trained at 13.8 s a step on the shared
2-core machine (65 steps in 15 minutes); this model trains in minutes.

Model (``GuiPolicyNet``): word embeddings; a candidate is the mean of its words (role, name,
value, id, flags), a small attention over the task's words (binds "two" to "blue mugs"),
the screen's mean, the task's mean and the words it shares with the task, into an MLP giving
one score. Weights are
safetensors; ``config.json`` holds the sizes and the vocabulary.

Determinism: sample j of a prompt uses a generator seeded from (seed, prompt, j), as the
Backend protocol asks. ``score`` gives the log-probability of an action line.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stepsieve._errors import ConfigError
from stepsieve.backends._protocol import Generation, Score
from stepsieve.backends._sampler import sample_seed
from stepsieve.backends._threads import one_thread
from stepsieve.trajectory import Cost

__all__ = [
    "MODEL_TYPE", "Candidate", "GuiPolicyBackend", "GuiPolicyNet", "candidates", "embedded_gui_policy_dir",
    "is_gui_policy_dir", "train_policy",
]

MODEL_TYPE = "stepsieve-gui-policy"
_LINE = re.compile(r'^\[(?P<id>[^\]]+)\] (?P<role>\w+) "(?P<name>.*?)" \((?P<x>\d+),(?P<y>\d+)\) (?P<w>\d+)x(?P<h>\d+)'
                   r'(?: value="(?P<value>.*?)")?(?P<focused> focused)?$')
_WORD = re.compile(r"[a-z]+|\d+")
_CLICKABLE = {"link", "button", "textbox", "switch", "checkbox"}
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
SCROLL_PX = 200


def embedded_gui_policy_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "embedded" / "gui_policy"


def words(text: str) -> list[str]:
    """Lower-case words and digit runs, plurals made singular and number words digits, so a
    task's "two blue mugs" and a screen's "Blue mug" share words; ``item3`` -> ``item``, ``3``."""
    return [str(_NUMBERS[w]) if w in _NUMBERS else _singular(w) for w in _WORD.findall(text.lower())]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One action the policy may take: its line and the words that describe it."""

    action: str
    words: tuple[str, ...]


def _singular(w: str) -> str:
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


def _phrases(task: str) -> list[str]:
    """What may be typed: numbers 1-9, each two-word phrase of the task (as written, and in
    lower case with a plural made singular, the way the shop names items)."""
    toks = re.findall(r"[A-Za-z]+", task)
    out = [str(i) for i in range(1, 10)]
    for a, b in itertools.pairwise(toks):
        out += [f"{a} {b}", f"{a.lower()} {_singular(b.lower())}"]
    return list(dict.fromkeys(out))


def parse_prompt(prompt: str) -> tuple[str, str, list[dict[str, Any]]]:
    """(task, screen, elements) of a gui prompt; elements as dicts of the tree's fields."""
    task, screen, elems = "", "", []
    for ln in prompt.splitlines():
        if ln.startswith("Task: "):
            task = ln[6:]
        elif ln.startswith("Screen: "):
            screen = ln[8:].strip()
        elif (m := _LINE.match(ln.strip())) is not None:
            elems.append(m.groupdict())
    return task, screen, elems


def candidates(prompt: str) -> tuple[str, list[str], list[Candidate]]:
    """(task, the screen's words, candidate actions) of a prompt."""
    task, screen, elems = parse_prompt(prompt)
    out: list[Candidate] = []
    focused = None
    context = ["screen", screen]
    for e in elems:
        context += [e["role"], *words(e["name"]), *words(e["value"] or "")]
        flags = ["focused"] if e["focused"] else []
        if e["focused"]:
            focused = e
        if e["role"] in _CLICKABLE:
            desc = ("click", e["role"], *words(e["id"]), *words(e["name"]), *words(e["value"] or ""), *flags)
            out.append(Candidate(f"click({e['x']}, {e['y']})", desc))
        if e["role"] == "list":
            for sign, d in ((1, "down"), (-1, "up")):
                out.append(Candidate(f"scroll({e['x']}, {e['y']}, 0, {sign * SCROLL_PX})", ("scroll", d)))
    if focused is not None:
        for p in _phrases(task):
            out.append(Candidate(f"type({json.dumps(p)})", ("type", *words(focused["id"]), "text", *words(p))))
    if screen == "dialog":
        out.append(Candidate('keypress("ESCAPE")', ("keypress", "escape")))
    out.append(Candidate("done()", ("done",)))
    return task, context, out


class GuiPolicyNet(nn.Module):
    """Scores candidate actions given the task and the screen (see the module docstring)."""

    def __init__(self, vocab: list[str], dim: int = 48, hidden: int = 96) -> None:
        super().__init__()
        self.vocab = {w: i + 1 for i, w in enumerate(vocab)}  # 0: unknown / padding
        self.emb = nn.Embedding(len(vocab) + 1, dim, padding_idx=0)
        self.pos = nn.Embedding(32, dim)
        self.q = nn.Linear(dim, dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(5 * dim + 2, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 1))

    def ids(self, ws: Sequence[str]) -> list[int]:
        return [self.vocab.get(w, 0) for w in ws] or [0]

    def _bag(self, rows: list[list[int]]) -> torch.Tensor:
        L = max(map(len, rows))
        x = torch.tensor([r + [0] * (L - len(r)) for r in rows])
        mask = (x != 0).float().unsqueeze(-1)
        return (self.emb(x) * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, task: str, context: list[str], cands: list[Candidate]) -> torch.Tensor:
        """Scores [len(cands)] of one prompt's candidates."""
        tw = self.ids(words(task))[:32]
        t = self.emb(torch.tensor(tw)) + self.pos(torch.arange(len(tw)))  # [T, d]
        c = self._bag([self.ids(cd.words) for cd in cands])  # [C, d]
        att = torch.softmax(self.q(c) @ t.T / t.shape[-1] ** 0.5, dim=-1) @ t  # [C, d]
        scr = self._bag([self.ids(context)]).expand_as(c)
        tm = t.mean(0).expand_as(c)
        task_words = set(words(task))
        overlap = torch.tensor([[len(task_words.intersection(cd.words)), len(task_words.intersection(cd.words))
                                 / max(1, len(cd.words))] for cd in cands], dtype=torch.float32)
        return self.mlp(torch.cat([c, att, c * att, scr, tm, overlap], dim=-1)).squeeze(-1)

    def log_probs(self, prompt: str) -> tuple[list[Candidate], torch.Tensor]:
        task, context, cands = candidates(prompt)
        return cands, torch.log_softmax(self(task, context, cands), dim=-1)

    def config(self) -> dict[str, Any]:
        inv = sorted(self.vocab, key=self.vocab.__getitem__)
        return {"model_type": MODEL_TYPE, "dim": self.emb.embedding_dim, "hidden": self.mlp[0].out_features,
                "vocab": inv}

    def save(self, out: Path, extra: dict[str, Any] | None = None) -> None:
        from safetensors.torch import save_file

        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(out / "model.safetensors"))
        (out / "config.json").write_text(json.dumps({**self.config(), **(extra or {})}, indent=1) + "\n")

    @staticmethod
    def load(path: Path) -> GuiPolicyNet:
        from safetensors.torch import load_file

        cfg = json.loads((path / "config.json").read_text())
        if cfg.get("model_type") != MODEL_TYPE:
            raise ConfigError(f"{path}/config.json is not a gui policy (model_type {cfg.get('model_type')!r})")
        net = GuiPolicyNet(cfg["vocab"], cfg["dim"], cfg["hidden"])
        net.load_state_dict(load_file(str(path / "model.safetensors")))
        net.eval()
        return net


def train_policy(net: GuiPolicyNet, data: Sequence[tuple[str, int]], *, steps: int, batch: int = 32,
                 lr: float = 3e-3, seed: int = 0,
                 on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Train ``net`` in place on ``data``: (prompt, index of the target action among
    ``candidates(prompt)``), cross-entropy over each prompt's candidates, AdamW at a constant
    ``lr``, ``steps`` optimiser steps of ``batch`` examples. Batches are drawn without
    replacement from a shuffled order that is reshuffled when it runs out, so a smaller set
    is simply seen more times: the budget is the step count, not the epochs.
    ``on_step(step, loss)`` is called after each step (the script logs and evaluates there).
    Returns the loss of every step. ``scripts/train_gui_policy.py`` trains the shipped
    policy with it; ``benchmarks/webstar.py`` fine-tunes copies of it."""
    if not data:
        raise ConfigError("no training examples for the gui policy")
    with one_thread():  # tiny tensors: threads cost more than they give (backends._threads)
        return _train(net, data, steps=steps, batch=batch, lr=lr, seed=seed, on_step=on_step)


def _train(net: GuiPolicyNet, data: Sequence[tuple[str, int]], *, steps: int, batch: int, lr: float, seed: int,
           on_step: Callable[[int, float], None] | None) -> list[float]:
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    rng = random.Random(f"gui-policy:{seed}")
    order: list[int] = []
    losses: list[float] = []
    for step in range(1, steps + 1):
        net.train()
        if len(order) < batch:
            order = list(range(len(data)))
            rng.shuffle(order)
        chosen = []
        for _ in range(batch):
            if not order:  # a set smaller than one batch
                order = list(range(len(data)))
                rng.shuffle(order)
            chosen.append(data[order.pop()])
        loss = torch.stack([-net.log_probs(p)[1][k] for p, k in chosen]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    net.eval()
    return losses


def is_gui_policy_dir(path: str | Path) -> bool:
    p = Path(path) / "config.json"
    try:
        return p.is_file() and json.loads(p.read_text()).get("model_type") == MODEL_TYPE
    except (OSError, ValueError):
        return False


class GuiPolicyBackend:
    """The embedded GUI policy as a Backend (``generate`` samples action lines, ``score``
    gives their log-probability). ``model``: a directory saved by ``GuiPolicyNet.save``
    (default: the one shipped in the package)."""

    name = "gui-policy"

    def __init__(self, model: str | Path | None = None, *, budget: Any = None, **_: Any) -> None:
        """``budget`` (``--max-cost``): a call is one request a prompt, one token an action.
        No request cache: a call costs well under a millisecond, less than a cache lookup."""
        path = Path(model) if model is not None else embedded_gui_policy_dir()
        if not (path / "model.safetensors").is_file():
            raise ConfigError(f"no gui policy at {path} (train one with scripts/train_gui_policy.py)")
        self.net = GuiPolicyNet.load(path)
        self.model = f"gui-policy:{path.name}"
        self.cost = Cost()
        self.budget = budget

    @classmethod
    def from_net(cls, net: GuiPolicyNet, name: str = "in-memory") -> GuiPolicyBackend:
        """A backend over a network in memory (training scripts evaluate with it)."""
        self = cls.__new__(cls)
        self.net, self.model, self.cost, self.budget = net, f"gui-policy:{name}", Cost(), None
        return self

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], *, n: int = 1, max_tokens: int = 256, stop: Sequence[str] = (),
                 temperature: float = 1.0, seed: int | None = None, logprobs: bool = False) -> list[list[Generation]]:
        t0 = time.perf_counter()
        if self.budget is not None and prompts:
            self.budget.charge(len(prompts), len(prompts) * n, backend=self.name)
        with one_thread():  # tiny tensors: threads cost more than they give (backends._threads)
            out = self._generate(prompts, n, temperature, seed, logprobs)
        self.cost = self.cost + Cost(len(prompts), 0, len(prompts) * n, time.perf_counter() - t0)
        return out

    def _generate(self, prompts: Sequence[str], n: int, temperature: float, seed: int | None,
                  logprobs: bool) -> list[list[Generation]]:
        out = []
        for prompt in prompts:
            cands, lp = self.net.log_probs(prompt)
            row = []
            for j in range(n):
                if temperature == 0.0:
                    k = int(lp.argmax())
                else:
                    g = torch.Generator().manual_seed(sample_seed(seed or 0, prompt, j))
                    k = int(torch.multinomial(torch.softmax(lp / temperature, -1), 1, generator=g))
                row.append(Generation(cands[k].action, 1, "stop", [float(lp[k])] if logprobs else None))
            out.append(row)
        return out

    @torch.no_grad()
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        out = []
        for prompt, cont in zip(prompts, continuations):
            with one_thread():
                cands, lp = self.net.log_probs(prompt)
            want = cont.strip().removeprefix(">").strip()
            hit = [k for k, c in enumerate(cands) if c.action == want]
            v = float(lp[hit[0]]) if hit else float("-inf")
            out.append(Score(v, [v], 1))
        return out
