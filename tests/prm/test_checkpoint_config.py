"""The JSON config beside a PRM's weights: written, read back, and clear errors when it is wrong."""

from __future__ import annotations

import pytest

from stepsieve import ConfigError
from stepsieve.prm._implicit import ImplicitConfig
from stepsieve.prm._model import StepRMConfig
from stepsieve.prm._vlm import VLMStepRMConfig

KINDS = [(StepRMConfig, "stepsieve_prm.json", "a StepRM"),
         (VLMStepRMConfig, "stepsieve_vlm_prm.json", "a vision-language StepRM"),
         (ImplicitConfig, "stepsieve_implicit.json", "an implicit PRM")]


@pytest.mark.parametrize(("cls", "name", "kind"), KINDS)
def test_a_config_reads_back_what_was_written_to_its_own_file(cls, name, kind, tmp_path):
    config = cls(threshold=0.25, separator="<|im_end|>", training={"epochs": 3})
    config.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    back = cls.load(tmp_path)
    assert back == config and type(back) is cls


@pytest.mark.parametrize(("cls", "name", "kind"), KINDS)
def test_missing_bad_or_unknown_config_is_a_clear_error(cls, name, kind, tmp_path):
    with pytest.raises(ConfigError, match=f"is not {kind} checkpoint: no {name}"):
        cls.load(tmp_path)
    (tmp_path / name).write_text('{"threshold": 0.5,\n "separator": }')
    with pytest.raises(ConfigError, match=f"{name}: line 2: not valid JSON"):
        cls.load(tmp_path)
    (tmp_path / name).write_text('{"threshold": 0.5, "tresholds": 1}')
    with pytest.raises(ConfigError, match=r"unknown keys \['tresholds'\]"):
        cls.load(tmp_path)
