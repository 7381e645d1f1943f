"""Which steps are kept, truncated or masked, on hand-built trajectories."""

import pytest
from helpers_curate import traj

from stepsieve import ConfigError
from stepsieve.curate import CurateOptions, CurateStats, Grading, curate, weights_of
from stepsieve.trajectory import Label

MIXED = ["correct", "correct", "incorrect", "correct", "neutral", None]


def run(verdicts, **kw):
    st = CurateStats()
    out = list(curate([traj("t", verdicts)], Grading("truth"), CurateOptions(**kw), st))
    return out, st


def test_truncate_stops_before_the_first_error():
    (t,), _ = run(MIXED, mode="truncate")
    assert [s.text for s in t.steps] == ["t-s0", "t-s1"]
    assert weights_of(t) == [1.0, 1.0]


@pytest.mark.parametrize(
    "kw, weights",
    [
        ({}, [1, 1, 0, 0, 0, 0]),  # STeP: error and everything after masked
        ({"after_error": "grade"}, [1, 1, 0, 1, 1, 0]),  # later steps on their own verdicts; unscored masked
        ({"after_error": "grade", "neutral": "mask", "unscored": "keep"}, [1, 1, 0, 1, 0, 1]),
        ({"after_error": "drop"}, [1, 1, 0]),  # keep the error as context, drop the rest
        ({"error_weight": 0.25}, [1, 1, 0.25, 0, 0, 0]),
    ],
)
def test_mask_weights(kw, weights):
    (t,), _ = run(MIXED, mode="mask", **kw)
    assert weights_of(t) == weights
    assert all(s.labels["curate"].extra == {"kind": "weight"} for s in t.steps)
    assert [s.labels["truth"].verdict for s in t.steps[:3]] == ["correct", "correct", "incorrect"]


def test_neutral_as_error_moves_the_first_error():
    (t,), _ = run(["correct", "neutral", "correct"], mode="truncate", neutral="error")
    assert len(t.steps) == 1


def test_steps_mode_one_example_per_good_step_with_full_context():
    out, st = run(MIXED, mode="steps")
    assert [t.meta["target_step"] for t in out] == [0, 1, 3, 4]  # neutral kept by default
    ex = out[2]
    assert ex.id == "t/3" and ex.meta["source_id"] == "t"
    assert [s.text for s in ex.steps] == ["t-s0", "t-s1", "t-s2", "t-s3"]  # includes the earlier wrong step
    assert weights_of(ex) == [0, 0, 0, 1]
    assert st.kept == 1 and st.rows == 4
    out, _ = run(MIXED, mode="steps", neutral="mask", after_error="drop")
    assert [t.meta["target_step"] for t in out] == [0, 1]


def test_steps_mode_keeps_agent_observations():
    from stepsieve.curate import curate as c

    t = traj("a", ["correct", "correct"], obs=True)
    out = list(c([t], Grading("truth"), CurateOptions(mode="steps")))
    assert out[1].steps[0].observation == "obs0" and out[1].steps[1].kind == "action"


def test_threshold_reads_scores_not_verdicts():
    t = traj("t", [None, None, None])
    for s, sc in zip(t.steps, [0.9, 0.2, 0.8]):
        s.labels["mc"] = Label(sc, "correct")  # verdicts say correct; the threshold overrides them
    (out,) = curate([t], Grading("mc", 0.5), CurateOptions(mode="truncate"))
    assert len(out.steps) == 1


def test_rejections_are_counted_with_reasons():
    st = CurateStats()
    ts = [traj("a", ["incorrect", "correct"]), traj("b", [None, None]), traj("c", ["correct"])]
    out = list(curate(ts, Grading("truth"), CurateOptions(mode="truncate"), st))
    assert [t.id for t in out] == ["c"]  # b: unscored steps are masked context, so nothing to train on
    assert st.rejected == {"error_at_first_step": 1, "no_trainable_step": 1}
    assert st.seen == st.kept + st.n_rejected


def test_unscored_only_trajectory_is_rejected_in_mask_mode():
    _, st = run([None, None], mode="mask")
    assert st.kept == 0 and st.rejected == {"no_trainable_step": 1}


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="truncate"):
        CurateOptions(mode="truncate", after_error="mask")
    with pytest.raises(ConfigError, match="mode"):
        CurateOptions(mode="everything")
