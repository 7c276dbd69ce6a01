"""Bad scenario files fail early with one clear, specific error.

Each test writes a small YAML file into ``tmp_path`` (a valid base with one thing
broken), loads it with :func:`simulator.scenario.load_scenario` (and, for problems only
the engine can see, builds the :class:`~simulator.engine.Engine`), and asserts the
exception type and that its message names the file, the key path and the offending value
where there is one, and what is allowed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import run
from simulator.engine import Engine
from simulator.errors import PolicyError, ScenarioError, ScenarioErrors
from simulator.policies import known_policies
from simulator.scenario import load_scenario

BASE = """\
schema_version: 1
name: base
start: 2025-01-01
horizon_days: 2
reference_card: A100
card_types:
  - {name: A100, bf16_tflops: 312, memory_gb: 80, board_power_w: 400, mfu: 0.40}
centres:
  - name: alpha
    pools:
      - name: gpu
        card_type: A100
        phases:
          - {date: 2025-01-01, servers: 2}
workload:
  classes:
    - name: small
      arrival: {rate_per_day: 10}
      gang_size: {kind: table, values: [1, 8], weights: [1, 1]}
      work: {unit: ref_hours, distribution: {kind: exponential, mean: 1.0}}
"""

PHASE_PATH = "centres[0](alpha).pools[0](gpu).phases[0]"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def replaced(old: str, new: str) -> str:
    """The base file with one piece of text replaced (which must occur exactly once)."""
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def load_error(path: Path, overrides=None) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    return info.value


def test_base_file_is_valid(tmp_path: Path):
    """The base every other test breaks loads and builds an engine."""
    scenario = load_scenario(write(tmp_path, "base.yaml", BASE))
    Engine(scenario)
    assert scenario.centres[0].pools[0].max_cards == 16


# --------------------------------------------------------------------------- reading


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nowhere.yaml"
    err = load_error(path)
    assert str(path) in str(err)
    assert "not found" in str(err)


def test_malformed_yaml_names_file_and_line(tmp_path: Path):
    """An unclosed flow list on line 4 (``horizon_days``)."""
    path = write(tmp_path, "malformed.yaml", replaced("horizon_days: 2", "horizon_days: [2"))
    err = load_error(path)
    message = str(err)
    assert str(path) in message
    assert "malformed YAML" in message
    assert "line 5" in message  # the parser notices at the next line's ':'


def test_bad_indentation_names_the_line(tmp_path: Path):
    path = write(tmp_path, "indent.yaml", BASE + "  oops: : 1\n")
    message = str(load_error(path))
    assert str(path) in message
    assert f"line {BASE.count(chr(10)) + 1}" in message


def test_file_that_is_not_a_mapping(tmp_path: Path):
    path = write(tmp_path, "list.yaml", "- 1\n- 2\n")
    message = str(load_error(path))
    assert str(path) in message
    assert "mapping" in message and "list" in message


# --------------------------------------------------------------------------- schema


def test_missing_required_key(tmp_path: Path):
    path = write(tmp_path, "missing.yaml", replaced("reference_card: A100\n", ""))
    err = load_error(path)
    assert err.key_path == "reference_card"
    message = str(err)
    assert str(path) in message
    assert "'reference_card'" in message
    assert "required key is missing" in message


def test_missing_nested_key(tmp_path: Path):
    path = write(tmp_path, "nested.yaml", replaced("bf16_tflops: 312, ", ""))
    err = load_error(path)
    assert err.key_path == "card_types[0](A100).bf16_tflops"
    assert str(path) in str(err)
    assert "required key is missing" in str(err)


def test_unknown_top_level_key_lists_allowed_keys(tmp_path: Path):
    path = write(
        tmp_path, "unknown.yaml", replaced("horizon_days: 2", "horizon_days: 2\nhorizon_dayz: 3")
    )
    err = load_error(path)
    message = str(err)
    assert str(path) in message
    assert err.key_path == "horizon_dayz"
    assert "(value: 3)" in message
    assert "unknown key" in message
    allowed = message.split("allowed keys here:")[1]
    for key in ("horizon_days", "warmup_days", "centres", "workload", "policy", "placement"):
        assert key in allowed


def test_unknown_nested_key_lists_that_level_s_keys(tmp_path: Path):
    path = write(tmp_path, "colour.yaml", replaced("servers: 2}", "servers: 2, colour: red}"))
    err = load_error(path)
    message = str(err)
    assert str(path) in message
    assert err.key_path == f"{PHASE_PATH}.colour"
    assert "'red'" in message
    assert "allowed keys here: date, servers, label" in message


@pytest.mark.parametrize("servers", [0, -5])
def test_non_positive_capacity(tmp_path: Path, servers: int):
    path = write(
        tmp_path, f"servers{servers}.yaml", replaced("servers: 2}", f"servers: {servers}}}")
    )
    err = load_error(path)
    message = str(err)
    assert str(path) in message
    assert err.key_path == f"{PHASE_PATH}.servers"
    assert f"(value: {servers})" in message
    assert "greater than 0" in message


def test_several_problems_are_reported_together(tmp_path: Path):
    text = replaced("servers: 2}", "servers: 0}").replace("horizon_days: 2", "horizon_days: -1")
    err = load_error(write(tmp_path, "two.yaml", text))
    assert isinstance(err, ScenarioErrors)
    paths = {e.key_path for e in err.errors}
    assert paths == {"horizon_days", f"{PHASE_PATH}.servers"}
    assert "2 problem(s)" in str(err)
    assert all(str(tmp_path / "two.yaml") in str(e) for e in err.errors)


def test_phase_dated_before_the_start(tmp_path: Path):
    path = write(
        tmp_path,
        "early.yaml",
        replaced("{date: 2025-01-01, servers: 2}", "{date: 2024-12-01, servers: 2}"),
    )
    message = str(load_error(path))
    assert str(path) in message
    assert "centres[0].pools[0].phases[0].date" in message
    assert "2024-12-01" in message
    assert "before the scenario start 2025-01-01" in message


def test_phase_dated_before_the_start_has_its_key_path(tmp_path: Path):
    """Regression: cross-reference errors carry their key path and value as fields (they
    used to say ``'<top>'`` and leave the value out)."""
    path = write(
        tmp_path,
        "early.yaml",
        replaced("{date: 2025-01-01, servers: 2}", "{date: 2024-12-01, servers: 2}"),
    )
    err = load_error(path)
    assert err.key_path is not None and err.key_path.endswith("phases[0].date")
    assert err.has_value and str(err.value) == "2024-12-01"


def test_retiring_more_servers_than_are_online(tmp_path: Path):
    """Two servers online, three retired at day 1: rejected rather than left pending to
    remove servers of some later phase."""
    text = replaced(
        "          - {date: 2025-01-01, servers: 2}\n",
        "          - {date: 2025-01-01, servers: 2}\n"
        "          - {date: 2025-01-03, servers: 4}\n"
        "        retirements:\n"
        "          - {date: 2025-01-02, servers: 3}\n",
    )
    path = write(tmp_path, "retire.yaml", text)
    err = load_error(path)
    message = str(err)
    assert str(path) in message
    assert err.key_path == "centres[0].pools[0].retirements[0].servers"
    assert "(value: 3)" in message
    assert "retires more servers than the phases dated up to 2025-01-02" in message
    assert "short by 1" in message


def test_unknown_card_type_lists_known_ones(tmp_path: Path):
    path = write(tmp_path, "card.yaml", replaced("card_type: A100", "card_type: H100"))
    err = load_error(path)
    message = str(err)
    assert str(path) in message
    assert err.key_path == "centres[0].pools[0].card_type"
    assert err.has_value and err.value == "H100"
    assert "'H100' is not a card type" in message
    assert "known: A100" in message


# --------------------------------------------------------------------------- engine build


@pytest.mark.parametrize(
    ("gang_size", "what"),
    [
        ("{kind: table, values: [1, 64], weights: [1, 1]}", "64 cards"),
        ("{kind: lognormal, median: 2, sigma: 1}", "unbounded"),
    ],
)
def test_gang_larger_than_any_pool(tmp_path: Path, gang_size: str, what: str):
    """A class whose gang size can exceed the largest pool it may use (16 cards) is
    rejected when the engine is built, before anything runs."""
    text = replaced("{kind: table, values: [1, 8], weights: [1, 1]}", gang_size)
    scenario = load_scenario(write(tmp_path, "gang.yaml", text))
    with pytest.raises(ScenarioError) as info:
        Engine(scenario)
    err = info.value
    message = str(err)
    assert err.key_path == "workload.classes[0].gang_size"
    assert "job class 'small'" in message
    assert what in message
    assert "never has more than 16 cards" in message
    assert "could never run" in message
    with pytest.raises(ScenarioError):
        run(scenario)


def test_campaign_larger_than_any_pool(tmp_path: Path):
    text = BASE + (
        "  campaigns:\n"
        "    - {name: huge, submit: 2025-01-02, flop: 1.0e21, cards: 32, card_types: [A100]}\n"
    )
    scenario = load_scenario(write(tmp_path, "campaign.yaml", text))
    with pytest.raises(ScenarioError) as info:
        Engine(scenario)
    message = str(info.value)
    assert info.value.key_path == "workload.campaigns[0].cards"
    assert "campaign 'huge'" in message
    assert "32 cards" in message and "could never run" in message


def test_unknown_policy_lists_known_ones(tmp_path: Path):
    path = write(tmp_path, "policy.yaml", BASE + "policy: {name: shortest_first}\n")
    with pytest.raises(PolicyError) as info:
        load_scenario(path)
    assert isinstance(info.value, ScenarioError)  # a scenario error: file and key path
    assert info.value.file == str(path)
    assert info.value.key_path == "policy.name"
    message = str(info.value)
    assert "'shortest_first'" in message and "unknown policy 'shortest_first'" in message
    for name in known_policies():
        assert name in message


def test_unknown_policy_parameter_lists_parameters(tmp_path: Path):
    text = BASE + "policy: {name: easy_backfill, params: {look_ahead: 5}}\n"
    path = write(tmp_path, "param.yaml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert isinstance(info.value, PolicyError)
    assert info.value.file == str(path)
    assert info.value.key_path == "policy.params.look_ahead"
    message = str(info.value)
    assert "easy_backfill" in message
    assert "look_ahead" in message
    assert "lookahead (int)" in message


def test_invalid_policy_parameter_value(tmp_path: Path):
    text = BASE + "policy: {name: easy_backfill, params: {lookahead: 0}}\n"
    path = write(tmp_path, "lookahead.yaml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.file == str(path)
    assert info.value.key_path == "policy.params"
    assert "lookahead must be >= 1, got 0" in str(info.value)


def test_policy_parameter_of_the_wrong_type(tmp_path: Path):
    text = BASE + "policy: {name: las, params: {timed_demotion: maybe}}\n"
    path = write(tmp_path, "las.yaml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.key_path == "policy.params.timed_demotion"
    assert info.value.value == "maybe"
    assert "must be bool" in str(info.value)


def test_unknown_dispatch_rule(tmp_path: Path):
    path = write(tmp_path, "dispatch.yaml", BASE + "dispatch: {name: random}\n")
    with pytest.raises(PolicyError) as info:
        load_scenario(path)
    assert isinstance(info.value, ScenarioError)
    assert info.value.key_path == "dispatch.name"
    message = str(info.value)
    assert str(path) in message
    assert "unknown dispatch rule 'random'" in message
    assert "earliest_start" in message and "fastest_card" in message


def test_policy_parameter_override_on_the_command_line(tmp_path: Path):
    """``--set policy.params.NAME=VALUE`` sets a parameter the file does not give; a name
    the policy does not have is an error naming the key."""
    path = write(tmp_path, "base.yaml", BASE + "policy: {name: easy_backfill}\n")
    scenario = load_scenario(path, ["policy.params.lookahead=7"])
    assert scenario.policy.params == {"lookahead": 7}
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, ["policy.params.look_ahead=7"])
    assert info.value.key_path == "policy.params.look_ahead"


# --------------------------------------------------------------------------- extends


def test_extends_a_missing_file(tmp_path: Path):
    path = write(tmp_path, "child.yaml", "extends: no-such-base.yaml\nname: child\n")
    err = load_error(path)
    message = str(err)
    assert str(path) in message
    assert err.key_path == "extends"
    assert "'no-such-base.yaml'" in message
    assert "does not exist" in message


def test_extends_itself(tmp_path: Path):
    path = write(tmp_path, "loop.yaml", "extends: loop.yaml\nname: loop\n")
    err = load_error(path)
    assert err.key_path == "extends"
    assert "cycle" in str(err)
    assert str(path) in str(err)


def test_extends_cycle_through_two_files(tmp_path: Path):
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    path = write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    message = str(load_error(path))
    assert "cycle" in message
    assert "a.yaml" in message and "b.yaml" in message


def test_extends_merges_and_child_wins(tmp_path: Path):
    """The working case beside the errors: mappings merge, the child's values win."""
    write(tmp_path, "base.yaml", BASE)
    path = write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\nhorizon_days: 5\n")
    scenario = load_scenario(path)
    assert (scenario.name, scenario.horizon_days) == ("child", 5)
    assert scenario.centres[0].pools[0].max_cards == 16


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    ("override", "key_path", "hint"),
    [
        ("horizon_dayz=3", "horizon_dayz", "known keys: ["),
        (
            "centres.alpha.pools.gpu.phases[0].serverz=3",
            "centres.alpha.pools.gpu.phases[0].serverz",
            "'servers'",
        ),
        ("centres.beta.pue=1.5", "centres.beta.pue", "a name in ['alpha']"),
        ("centres[3].pue=1.5", "centres[3].pue", "an index 0..0"),
    ],
)
def test_set_override_of_a_key_that_does_not_exist(
    tmp_path: Path, override: str, key_path: str, hint: str
):
    err = load_error(write(tmp_path, "base.yaml", BASE), [override])
    message = str(err)
    assert err.file == "--set"
    assert err.key_path == key_path
    assert f"key '{key_path}'" in message
    assert "(value: " in message
    assert hint in message


def test_set_override_without_equals_sign(tmp_path: Path):
    err = load_error(write(tmp_path, "base.yaml", BASE), ["horizon_days"])
    assert "key.path=value" in str(err)


def test_set_override_value_is_validated_against_the_file(tmp_path: Path):
    path = write(tmp_path, "base.yaml", BASE)
    err = load_error(path, ["centres.alpha.pools.gpu.phases[0].servers=-1"])
    assert str(path) in str(err)
    assert err.key_path == f"{PHASE_PATH}.servers"
    assert "(value: -1)" in str(err)


def test_set_override_of_defaulted_keys_by_index(tmp_path: Path):
    """Keys absent from the file but defaulted by the schema may be set."""
    path = write(tmp_path, "base.yaml", BASE)
    scenario = load_scenario(path, ["centres[0].pue=1.5", "placement.pod_locality=require"])
    assert scenario.centres[0].pue == 1.5
    assert scenario.placement.pod_locality == "require"


def test_set_override_of_defaulted_key_by_element_name(tmp_path: Path):
    """Regression: a defaulted key under a list element addressed by name may be set, as
    under one addressed by index (``centres.alpha.pue`` was rejected)."""
    path = write(tmp_path, "base.yaml", BASE)
    scenario = load_scenario(path, ["centres.alpha.pue=1.5"])
    assert scenario.centres[0].pue == 1.5


def test_priority_outside_the_recorded_range(tmp_path: Path):
    """Priorities are stored as 32-bit integers in the job records: a larger one is a
    scenario error naming the key, not an overflow when the records are written."""
    path = write(
        tmp_path,
        "priority.yaml",
        replaced(
            "      gang_size: {kind: table",
            "      priority: 3000000000\n      gang_size: {kind: table",
        ),
    )
    err = load_error(path)
    assert err.key_path == "workload.classes[0](small).priority"
    assert "(value: 3000000000)" in str(err)
    assert "less than or equal to 2147483647" in str(err)


def test_large_priority_and_many_interruptions_are_recorded():
    """Counts and priorities beyond 16 bits survive the per-job records (a trillion-
    parameter campaign on 10^5 cards can be interrupted more than 10^5 times)."""
    from simulator.recorder import Recorder

    rec = Recorder(
        n_pools=1, horizon_h=10.0, step_h=1.0, warmup_h=0.0, year_starts_h=[0.0], keep=True
    )
    rec.record((0, 0, 0, 40_000, 8, 0, 2, 0.0, 1.0, 5.0, 32.0, 5.0, 4.0, 70_000, 154_055, 1.5))
    rec.flush()
    cols = rec.job_columns()
    assert cols is not None
    assert int(cols["priority"][0]) == 40_000
    assert int(cols["preemptions"][0]) == 70_000
    assert int(cols["failures"][0]) == 154_055
