"""TaskTree: the trajectories of one task merged into a prefix tree of steps.

This is the one place stepsieve finds shared prefixes. Rollouts of the same task that begin
with the same steps share nodes; where they diverge the tree forks. Step-level preference
pairs (siblings at a fork), fork-relative advantages and Monte Carlo grading all read it, so
nothing re-derives shared prefixes by string matching in several places.

- A node is one step, keyed by its *normalised* text (``normalize_step``: whitespace runs
  collapsed, ends stripped), so ``"x = 2 + 3"`` and ``"x = 2 +  3 "`` are the same step.
  The root is the empty prefix (depth 0); the node at depth ``d`` is step ``d - 1``.
- Each node counts ``visits`` (trajectories through it) and carries two kinds of evidence
  for its value V (the probability that a rollout from the prefix ending at this step
  succeeds):
  * label evidence: a value label's scores on the steps that land on the node. When the
    label carries Monte Carlo counts (``extra = {"n": N, "n_correct": k}``), counts are
    pooled (sum k / sum N) — the right estimate when several trajectories probed the same
    prefix; otherwise scores are averaged. A label marked ``extra["shared"] = True`` (the
    mc grader's copy of a probe it made once for a shared prefix) adds no counts when the
    node already has some, so one probe is not counted twice. ``Node.record(n, n_correct)``
    adds counts directly, which is how a Monte Carlo grader can store the rollouts it makes.
  * outcome evidence: the final outcomes of the trajectories passing through the node.
  ``Node.value`` uses label evidence when there is any, else outcomes, else None. The root
  has no step label: its evidence is the root probe the mc grader records in
  ``meta["<label>_root"] = {"n", "n_correct"}`` (taken once per tree), and without one its
  value is the visit-weighted mean of its children's values.

Trajectories are grouped by ``task_key``: ``meta["task_id"]`` when present, else the task
text (for chat tasks, the canonical JSON of the messages).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import msgspec
import orjson

from stepsieve.trajectory._record import Trajectory

__all__ = ["Node", "TaskTree", "normalize_step", "normalize_steps", "task_key"]


def normalize_steps(texts: Sequence[str]) -> Sequence[str]:
    """The tree keys of step texts: whitespace runs collapsed to one space, ends stripped.

    The one definition of the rule (``normalize_step`` and ``TaskTree.add`` call it). Most
    texts are already normal, and proving it for a whole list with a few C scans of the
    texts joined by ``|`` is far cheaper than split + join per text: a printable str holds
    no whitespace but " ", so the list is normal when the joined string is printable, has no
    double space and no space at a text's end (next to a ``|`` or at an end of the join).
    A text that itself holds ``"| "`` or ``" |"`` fails the proof and is simply normalised.
    Returns ``texts`` itself when every text is already normal.
    """
    j = "|".join(texts)
    if (
        j.isprintable()
        and "  " not in j
        and "| " not in j
        and " |" not in j
        and (not j or (j[0] != " " and j[-1] != " "))
    ):
        return texts
    return [" ".join(x.split()) for x in texts]


def normalize_step(text: str) -> str:
    """The key of a step in the tree (see ``normalize_steps``)."""
    return normalize_steps((text,))[0]


def _evidence(lab: Any) -> tuple[int, int, int, float]:
    """What one value label says about its node: (MC rollouts, correct ones, scores, score sum).

    Counts (``extra = {"n", "n_correct"}``) are used when they are integers with
    0 <= n_correct <= n; otherwise the score, when there is one.
    """
    extra = lab.extra
    if extra:
        n = extra.get("n")
        k = extra.get("n_correct")
        if type(n) is int and type(k) is int and 0 <= k <= n:
            return n, k, 0, 0.0
    if lab.score is not None:
        return 0, 0, 1, 0.0 + lab.score
    return 0, 0, 0, 0.0


def task_key(t: Trajectory) -> str:
    """Which task a trajectory belongs to: ``meta["task_id"]`` if set, else the task itself."""
    tid = t.meta.get("task_id") if t.meta else None
    if tid is not None:
        return str(tid)
    if isinstance(t.task, str):
        return t.task
    return orjson.dumps(t.task, option=orjson.OPT_SORT_KEYS).decode()


class Node(msgspec.Struct, eq=False):
    """One step of the tree (the root is the empty prefix). See the module docstring.

    A msgspec Struct (mutable, slotted, compared by identity): a tree makes one node per
    distinct step, and a Struct is built in C, several times faster than a Python
    ``__init__``. The counters are fields so that ``TaskTree.add`` creates a node with the
    evidence of its first step in one call (most nodes of a diverse tree are visited once).
    """

    key: str
    text: str  # the raw text of the first step seen with this key
    depth: int
    parent: Node | None
    visits: int = 0
    n_outcomes: int = 0  # trajectories through here whose outcome is known
    n_outcomes_correct: int = 0
    # (trajectory id, step index) of every step that landed here, in insertion order; a
    # node visited once holds the bare tuple (see ``occurrences``).
    _occ: Any = []
    children: dict[str, Node] = {}
    # Label evidence. The labels of the steps that land here are read only when the
    # evidence is asked for (``_first``: None, one label, or a list, pending in order):
    # most nodes are never valued (pairs value the children of forks only).
    _first: Any = None
    _mc_n: int = 0  # pooled Monte Carlo rollouts from this prefix
    _mc_correct: int = 0
    _score_n: int = 0  # label scores without counts
    _score_sum: float = 0.0

    @property
    def first_occurrence(self) -> tuple[str, int]:
        """(trajectory id, step index) of the first step that landed here (not the root)."""
        occ = self._occ
        return occ if type(occ) is tuple else occ[0]

    @property
    def occurrences(self) -> list[tuple[str, int]]:
        """(trajectory id, step index) of every step that landed here, in insertion order."""
        occ = self._occ
        if type(occ) is tuple:
            occ = self._occ = [occ]
        return occ

    # ---- evidence --------------------------------------------------------------------

    def _settle(self) -> None:
        """Add the evidence of the labels ``TaskTree.add`` left pending, in insertion order.

        Counts are pooled, scores without counts averaged; a label marked
        ``extra["shared"]`` (the mc grader's copy of a probe it made once for a shared
        prefix) adds no counts when the node already has some, so one probe is not counted
        twice.
        """
        pending, self._first = self._first, None
        for lab in pending if type(pending) is list else (pending,):
            n, k, sn, score = _evidence(lab)
            if n:
                if not (self._mc_n and lab.extra.get("shared") is True):
                    self._mc_n += n
                    self._mc_correct += k
            elif sn:
                self._score_n += 1
                self._score_sum += score

    @property
    def mc_n(self) -> int:
        """Monte Carlo rollouts pooled from this prefix."""
        if self._first is not None:
            self._settle()
        return self._mc_n

    @property
    def mc_correct(self) -> int:
        if self._first is not None:
            self._settle()
        return self._mc_correct

    @property
    def score_n(self) -> int:
        """Label scores (without counts) seen on this node."""
        if self._first is not None:
            self._settle()
        return self._score_n

    @property
    def score_sum(self) -> float:
        if self._first is not None:
            self._settle()
        return self._score_sum

    def record(self, n: int, n_correct: int) -> None:
        """Add Monte Carlo evidence: ``n`` rollouts from this prefix, ``n_correct`` succeeded."""
        if n < 0 or not 0 <= n_correct <= n:
            raise ValueError(f"need 0 <= n_correct <= n, got n={n}, n_correct={n_correct}")
        if self._first is not None:  # pending labels came first (the shared rule sees order)
            self._settle()
        self._mc_n += n
        self._mc_correct += n_correct

    def record_score(self, score: float) -> None:
        """Add one value estimate that has no rollout counts (e.g. a PRM or judge score)."""
        if self._first is not None:
            self._settle()
        self._score_n += 1
        self._score_sum += score

    @property
    def label_value(self) -> float | None:
        """Value from label evidence: pooled MC counts if any, else mean score, else None."""
        if self._first is not None:
            self._settle()
        if self._mc_n:
            return self._mc_correct / self._mc_n
        if self._score_n:
            return self._score_sum / self._score_n
        return None

    @property
    def outcome_value(self) -> float | None:
        """Fraction of correct outcomes among trajectories through this node (None if unknown)."""
        return self.n_outcomes_correct / self.n_outcomes if self.n_outcomes else None

    @property
    def value(self) -> float | None:
        """V(prefix ending here): label evidence first, then outcomes; root: its probe, else
        the children's visit-weighted mean."""
        if self._first is not None:
            self._settle()
        if self.parent is None:
            if self._mc_n:
                return self._mc_correct / self._mc_n
            num = den = 0.0
            for c in self.children.values():
                v = c.value
                if v is not None:
                    num += v * c.visits
                    den += c.visits
            return num / den if den else self.outcome_value
        # label_value, then outcome_value, inlined (pairs and credit read values a lot)
        if self._mc_n:
            return self._mc_correct / self._mc_n
        if self._score_n:
            return self._score_sum / self._score_n
        return self.n_outcomes_correct / self.n_outcomes if self.n_outcomes else None

    # ---- navigation ------------------------------------------------------------------

    @property
    def siblings(self) -> list[Node]:
        """The other children of this node's parent (the alternatives at the same fork)."""
        if self.parent is None:
            return []
        return [c for c in self.parent.children.values() if c is not self]

    @property
    def step_index(self) -> int:
        """0-based index of this step within a trajectory (-1 for the root)."""
        return self.depth - 1

    def prefix(self) -> list[Node]:
        """The nodes from the first step down to this one (empty for the root)."""
        out: list[Node] = []
        n: Node | None = self
        while n is not None and n.parent is not None:
            out.append(n)
            n = n.parent
        out.reverse()
        return out

    def __repr__(self) -> str:
        return f"Node(depth={self.depth}, visits={self.visits}, value={self.value}, text={self.text!r})"


class TaskTree:
    """The prefix tree of one task's trajectories.

    ``label`` names the step label whose scores give node values (e.g. ``"mc"``); with
    None, values come from trajectory outcomes only. Build with ``from_trajectories`` or
    ``add`` one trajectory at a time; ``path(t)`` is the node sequence of a trajectory.
    """

    def __init__(self, key: str, task: Any = None, label: str | None = None) -> None:
        self.key = key
        self.task = task
        self.label = label
        self.root = Node("", "", 0, None)
        self.n_trajectories = 0
        self._paths: dict[str, list[Node]] = {}
        self._forks: list[Node] = []  # nodes in the order they gained a second child
        self._root_meta = None if label is None else f"{label}_root"

    @classmethod
    def from_trajectories(cls, trajectories: Iterable[Trajectory], label: str | None = None) -> TaskTree:
        """Merge trajectories (all of one task) into a tree; raises ValueError on a mixed task."""
        tree: TaskTree | None = None
        for t in trajectories:
            if tree is None:
                tree = cls(task_key(t), t.task, label)
            tree.add(t)
        if tree is None:
            raise ValueError("a TaskTree needs at least one trajectory")
        return tree

    def add(self, t: Trajectory) -> list[Node]:
        """Insert a trajectory; returns its path (one node per step). Ids should be unique."""
        key = task_key(t)
        if key != self.key:
            raise ValueError(f"trajectory {t.id!r} belongs to task {key!r}, not {self.key!r}")
        if self.task is None:
            self.task = t.task
        c = t.outcome.correct
        correct = None if c is None else 1 if c else 0
        node = self.root
        node.visits += 1
        if correct is not None:
            node.n_outcomes += 1
            node.n_outcomes_correct += correct
        label = self.label
        if self._root_meta is not None and not node.mc_n and t.meta:
            rec = t.meta.get(self._root_meta)
            if (
                isinstance(rec, dict)
                and type(rec.get("n")) is int
                and type(rec.get("n_correct")) is int
                and 0 <= rec["n_correct"] <= rec["n"]
            ):
                node.record(rec["n"], rec["n_correct"])
        steps = t.steps
        keys = normalize_steps([s.text for s in steps])
        path: list[Node] = []
        append = path.append
        tid = t.id
        forks = self._forks
        no = 0 if correct is None else 1
        noc = correct or 0
        # Hot loops (every step of every trajectory). First the steps that land on existing
        # nodes; from the first new node on, every later step is new too (a new node has no
        # children), so the rest is a chain built without lookups. A new node keeps its
        # step's label; labels are read only when the evidence is asked for (Node._settle).
        n_steps = len(steps)
        i = 0
        while i < n_steps:
            key = keys[i]
            child = node.children.get(key)
            if child is None:
                break
            node = child
            node.visits += 1
            occ = node._occ
            if type(occ) is tuple:
                node._occ = [occ, (tid, i)]
            else:
                occ.append((tid, i))
            if no:
                node.n_outcomes += 1
                node.n_outcomes_correct += noc
            lab = steps[i].labels.get(label) if label is not None else None
            if lab is not None:  # its evidence is read when asked for (Node._settle)
                pending = node._first
                if pending is None:
                    node._first = lab
                elif type(pending) is list:
                    pending.append(lab)
                else:
                    node._first = [pending, lab]
            append(node)
            i += 1
        if i < n_steps:
            if len(node.children) == 1:
                forks.append(node)  # it gains its second child now
            depth = node.depth
            for j in range(i, n_steps):
                step = steps[j]
                key = keys[j]
                depth += 1
                child = node.children[key] = Node(
                    key,
                    step.text,
                    depth,
                    node,
                    1,
                    no,
                    noc,
                    (tid, j),
                    {},
                    step.labels.get(label) if label is not None else None,
                )
                node = child
                append(node)
        self._paths[t.id] = path
        self.n_trajectories += 1
        return path

    def path(self, t: Trajectory | str) -> list[Node]:
        """The nodes of an inserted trajectory (by record or id), one per step."""
        return self._paths[t if isinstance(t, str) else t.id]

    def find(self, steps: Iterable[str]) -> Node | None:
        """The node reached by following these step texts from the root, or None."""
        node = self.root
        for s in steps:
            nxt = node.children.get(normalize_step(s))
            if nxt is None:
                return None
            node = nxt
        return node

    def nodes(self) -> Iterator[Node]:
        """Every node, root first, depth-first in insertion order."""
        stack = [self.root]
        while stack:
            n = stack.pop()
            yield n
            stack.extend(reversed(list(n.children.values())))

    def forks(self) -> list[Node]:
        """Nodes with two or more children (where trajectories diverge), in the order they forked.

        Kept as the tree grows, so finding them costs nothing per call.
        """
        return list(self._forks)

    def clear(self) -> None:
        """Empty the tree now. Nodes point at their parents and parents at their children,
        so a dropped tree is garbage only the cyclic collector finds; a streaming job that
        builds a tree per task (pairs, credit) clears each one when done instead, which
        frees it at once and keeps the collector's work (and its pauses) small."""
        for path in self._paths.values():  # every node but the root lies on some path
            for n in path:
                n.parent = None
        self.root = Node("", "", 0, None)
        self.n_trajectories = 0
        self._paths = {}
        self._forks = []

    def __len__(self) -> int:
        return self.n_trajectories

    def __repr__(self) -> str:
        return f"TaskTree(key={self.key!r}, trajectories={self.n_trajectories}, label={self.label!r})"
