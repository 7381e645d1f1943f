"""Hand-built graded trajectories shared by the curation tests."""

from stepsieve.trajectory import Label, Outcome, Step, Trajectory

V2S = {"correct": 1.0, "incorrect": 0.0, "neutral": 0.5}


def traj(tid, verdicts, task="q", texts=None, correct=None, mc=None, obs=False, task_id=None):
    """A trajectory whose step i has truth verdict verdicts[i] (None: no label) and optional mc (n, k)."""
    steps = []
    for i, v in enumerate(verdicts):
        labels = {}
        if v is not None:
            labels["truth"] = Label(V2S[v], v)
        if mc is not None and mc[i] is not None:
            n, k = mc[i]
            labels["mc"] = Label(k / n, "correct" if k else "incorrect", extra={"n": n, "n_correct": k})
        text = texts[i] if texts else f"{tid}-s{i}"
        steps.append(
            Step(i, text, "action" if obs else "reasoning", f"obs{i}" if obs else None, labels=labels)
        )
    meta = {"task_id": task_id} if task_id else {}
    return Trajectory(tid, task, steps, Outcome(None, correct), meta=meta)
