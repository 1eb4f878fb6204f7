from pathlib import Path

import pytest

from locoder.config import load_settings
from locoder.exceptions import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(isolated_env, repo):
    s = load_settings({"workspace": str(repo)}, env={})
    assert s.model == "qwen2.5-coder-1.5b" and s.max_steps == 30 and s.max_actions_per_turn == 1
    assert s.audit_log_path == repo.resolve() / ".locoder" / "logs" / "agent_audit.jsonl"


def test_precedence_flags_env_project_user_defaults(isolated_env, repo):
    user = write(isolated_env / "user.toml", "max_steps = 11\ntemperature = 0.9\ncontext_window = 2048\nmax_tokens = 100\n")
    write(repo / ".locoder.toml", "[locoder]\nmax_steps = 12\ncontext_window = 4096\nmax_tokens = 200\n")
    env = {"LOCODER_MAX_STEPS": "13", "LOCODER_CONTEXT_WINDOW": "3000"}
    s = load_settings({"workspace": str(repo), "max_steps": 14}, env=env, user_config=user)
    assert s.max_steps == 14  # flag
    assert s.context_window == 3000  # environment
    assert s.max_tokens == 200  # project file
    assert s.temperature == 0.9  # user file
    assert s.repeat_limit == 3  # default
    s2 = load_settings({"workspace": str(repo)}, env=env, user_config=user)
    assert s2.max_steps == 13


def test_user_config_found_through_xdg(isolated_env, repo):
    write(isolated_env / ".config" / "locoder" / "config.toml", "max_steps = 7\n")
    assert load_settings({"workspace": str(repo)}).max_steps == 7


def test_openai_variables(isolated_env, repo):
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-test-not-real", "MODEL_NAME": "m"}
    s = load_settings({"workspace": str(repo)}, env=env)
    assert (s.model, s.api_key, s.model_name) == ("http://127.0.0.1:9/v1", "sk-test-not-real", "m")
    assert "sk-test" not in repr(s) and s.dump()["api_key"] == "***"


def test_flag_beats_openai_base_url(isolated_env, repo):
    s = load_settings({"workspace": str(repo), "model": "qwen2.5-coder-0.5b"}, env={"OPENAI_BASE_URL": "http://x/v1"})
    assert s.model == "qwen2.5-coder-0.5b"


@pytest.mark.parametrize(
    "flags,env,message",
    [
        ({"max_steps": 0}, {}, "max_steps must be at least 1"),
        ({}, {"LOCODER_MAX_STEPS": "many"}, "must be a int"),
        ({"tool_mode": "telepathy"}, {}, "tool_mode"),
    ],
)
def test_bad_values_are_config_errors(isolated_env, repo, flags, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"workspace": str(repo), **flags}, env=env)


def test_unknown_key_and_broken_toml(isolated_env, repo):
    write(repo / ".locoder.toml", "max_stepz = 3\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({"workspace": str(repo)}, env={})
    write(repo / ".locoder.toml", "max_steps = [\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings({"workspace": str(repo)}, env={})


def test_missing_workspace(isolated_env, tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        load_settings({"workspace": str(tmp_path / "nope")}, env={})


def test_the_command_line_and_the_settings_share_one_table_of_choices():
    """Every enumerated setting's flag offers exactly the values the settings accept (one table, CHOICES)."""
    from locoder.cli.options import agent_parent
    from locoder.config.settings import CHOICES

    offered = {a.dest: a.choices for a in agent_parent()._actions if a.choices}
    assert set(offered) == set(CHOICES) - {"thinking"}
    for name, choices in offered.items():
        assert list(choices) == [c for c in CHOICES[name] if c], name
    with pytest.raises(ConfigError, match="workflow must be one of ask, auto, fix, loop"):
        load_settings({"workflow": "guess"})


NESTED = """\
max_steps = 9

[model]
name = "http://127.0.0.1:9/v1"
temperature = 0.5

[sandbox]
runner = "plain"
mode = "read-only"
cpu_seconds = 30

[knowledge]
memory_tokens = 50
docs_dirs = ["manual"]

[learning]
epsilon = 0.2
enabled = false
"""


def test_settings_are_read_from_nested_tables(isolated_env, repo):
    user = write(isolated_env / "user.toml", NESTED)
    s = load_settings({"workspace": str(repo)}, env={}, user_config=user)
    assert (s.max_steps, s.model, s.temperature) == (9, "http://127.0.0.1:9/v1", 0.5)
    assert (s.sandbox, s.mode, s.cpu_seconds) == ("plain", "read-only", 30)
    assert (s.memory_tokens, s.docs_dirs, s.rl_epsilon, s.rl) == (50, ("manual",), 0.2, False)
    # Inside [locoder] too, and tables mixed with flat keys.
    write(repo / ".locoder.toml", "[locoder]\nrepo_map_tokens = 0\n[locoder.knowledge]\nmemory_min_score = 0.6\n")
    s = load_settings({"workspace": str(repo)}, env={}, user_config=user)
    assert (s.repo_map_tokens, s.memory_min_score, s.memory_tokens) == (0, 0.6, 50)


@pytest.mark.parametrize("text,message", [
    ("[sandbox]\nnetwrk = true\n", r"unknown setting\(s\) \[sandbox\] netwrk"),
    ("[model]\nnetwork = true\n", r"\[model\] network \(it belongs in \[sandbox\]\)"),
    ("[plugins]\nx = 1\n", r"unknown setting\(s\) \[plugins\]"),
    ("mode = 'read-only'\n[sandbox]\nmode = 'full-access'\n", "mode is set twice"),
    ("[learning]\nepsilon = 'lots'\n", "'rl_epsilon' must be a float"),
])
def test_a_table_key_that_is_not_a_setting_is_an_error_never_dropped(isolated_env, repo, text, message):
    write(repo / ".locoder.toml", text)
    with pytest.raises(ConfigError, match=message):
        load_settings({"workspace": str(repo)}, env={})


def test_every_setting_of_a_group_exists_and_belongs_to_one_group():
    from dataclasses import fields

    from locoder.config.settings import ALIASES, GROUPS, Settings

    names = {f.name for f in fields(Settings)}
    grouped = [n for group in GROUPS.values() for n in group]
    assert set(grouped) <= names and len(grouped) == len(set(grouped))
    assert all(target in GROUPS[group] for group, aliases in ALIASES.items() for target in aliases.values())


def test_a_widening_setting_in_a_table_of_an_untrusted_project_file_is_ignored(isolated_env, repo):
    write(repo / ".locoder.toml", "[sandbox]\nnetwork = true\nmode = 'full-access'\n[model]\ntemperature = 0.4\n")
    s = load_settings({"workspace": str(repo)}, env={"HOME": str(isolated_env)})
    assert s.network is False and s.mode == "workspace-write" and s.temperature == 0.4
    assert set(s.untrusted) == {"network", "mode"}
