"""A run's models as `ModelSpec` values: read from a table of settings (a stored run, a script's
dict, problem.toml's [[models]]) with a one-line error for a bad key or value, and stored and read
back unchanged with the run's config."""

from __future__ import annotations

import json

import pytest

from evolve.engine.options import RunOptions
from evolve.errors import OptionError
from evolve.mutate.llm import ModelSpec
from evolve.problem import ModelConfig
from evolve.store import RunConfig


def test_a_table_of_fields_reads_as_the_same_spec():
    table = {"name": "openai/m", "weight": 2, "api_base": "http://127.0.0.1:1/v1", "max_tokens": 512.0, "context": None}
    spec = ModelSpec.from_mapping(table, "test")
    assert spec == ModelSpec("openai/m", weight=2.0, api_base="http://127.0.0.1:1/v1", max_tokens=512)
    assert isinstance(spec.weight, float) and isinstance(spec.max_tokens, int)


def test_problem_toml_small_reaches_the_spec():
    assert ModelSpec.from_mapping(ModelConfig(name="openai/m", small=True).model_dump(), "p").small is True
    assert ModelSpec.from_mapping(ModelConfig(name="openai/m").model_dump(), "p").small is None


def test_problem_toml_retries_are_max_attempts_less_one():
    """problem.toml spells it `retries`; the model's [[models]] table converts at one point."""
    config = ModelConfig(name="openai/m", retries=2, timeout=30)
    spec = ModelSpec.from_mapping(config.model_dump(), "problem.toml [[models]]")
    assert spec.max_attempts == 3 and spec.timeout == 30.0 and spec.name == "openai/m"
    with pytest.raises(OptionError, match="retries or its max_attempts, not both"):
        ModelSpec.from_mapping({"name": "m", "retries": 1, "max_attempts": 2}, "x.json")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"name": "m", "wieght": 2.0}, r"^runs/r/config\.json: unknown model setting 'wieght' \(known: name, weight,"),
        ({"name": "m", "temprature": 0.1}, r"unknown model setting 'temprature'"),
        ({"weight": 1.0}, r"^runs/r/config\.json: a model needs a name"),
        ({"name": ""}, r"a model needs a name"),
        ({"name": "m", "weight": "heavy"}, r"^runs/r/config\.json: weight = 'heavy' must be a number$"),
        ({"name": "m", "max_tokens": 10.5}, r"max_tokens = 10\.5 must be a whole number"),
        ({"name": "m", "max_attempts": True}, r"max_attempts = True must be a whole number"),
        ({"name": "m", "timeout": None, "api_base": 7}, r"api_base = 7 must be text"),
        ({"name": "m", "weight": 0}, r"weight = 0 must be more than 0"),
        ({"name": "m", "small": "yes"}, r"^runs/r/config\.json: small = 'yes' must be true or false$"),
    ],
)
def test_a_bad_key_or_value_is_refused_with_its_name(table, message):
    """Nothing is accepted silently: a misspelt key would otherwise leave its default in force."""
    with pytest.raises(OptionError, match=message):
        ModelSpec.from_mapping(table, "runs/r/config.json")


def test_the_run_config_stores_its_models_and_options_as_json_and_reads_them_back():
    models = (
        ModelSpec("openai/a", weight=2.0, api_base="http://127.0.0.1:9/v1", price_in=1.0, max_attempts=2),
        ModelSpec("anthropic/b", temperature=0.2, context=32768, small=False),
    )
    options = RunOptions(iterations=7, seed=3, models=models[:1], max_cost=1.5, strategy="random")
    config = RunConfig(problem={"name": "p"}, options=options, models=models)
    stored = json.loads(json.dumps(config.to_json()))  # what runs.config holds
    assert stored["models"][0]["name"] == "openai/a" and stored["options"]["models"][0]["max_attempts"] == 2
    assert RunConfig.from_json(stored) == config


def test_a_stored_run_with_a_bad_model_key_is_refused_and_old_options_are_read():
    with pytest.raises(OptionError, match=r"the run's stored config: models: unknown model setting 'speed'"):
        RunConfig.from_json({"models": [{"name": "m", "speed": 3}]})
    with pytest.raises(OptionError, match=r"stored options: models: unknown model setting 'speed'"):
        RunOptions.from_dict({"models": [{"name": "m", "speed": 3}]})
    # An option this version does not know (an older evolve's) is left out; the rest is kept.
    read = RunConfig.from_json({"options": {"iterations": 5, "failing_calls": 2}})
    assert read.options == RunOptions(iterations=5) and read.models == ()
    assert RunConfig.from_json(None) == RunConfig()
