"""Secret-bearing environment variables (by name class, not by a list of names) never reach a command."""

import pytest

from locoder.safety import filter_env, is_secret_env_name
from locoder.sandbox import Sandbox, SandboxPolicy

LEAKY = {
    "MYSQL_PWD": "mysql-pw-CANARY",
    "SENTRY_DSN": "https://abc@o1.ingest.sentry.io/1-CANARY",
    "NPM_CONFIG__AUTH": "npm-auth-CANARY",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/CANARY",
    "PGPASSWORD": "pg-CANARY",
    "REDIS_PASS": "redis-CANARY",
    "SMTP_PASSPHRASE": "smtp-CANARY",
    "DOCKER_AUTH_CONFIG": "docker-CANARY",
    "DISCORD_WEBHOOK": "discord-CANARY",
    "SESSION_COOKIE": "cookie-CANARY",
    "DB_CREDS": "creds-CANARY",
    "DATABASE_DSN": "dsn-CANARY",
    "GH_OAUTH": "oauth-CANARY",
}
ORDINARY = {"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.org", "LANG": "C.UTF-8",
            "XAUTHORITY": "/run/user/1000/xauth", "GIT_ASKPASS": "/usr/bin/true"}


@pytest.mark.parametrize("name", sorted(LEAKY))
def test_secret_bearing_names_are_recognised(name):
    assert is_secret_env_name(name)


@pytest.mark.parametrize("name", [*sorted(ORDINARY), "PWD", "OLDPWD", "PATH", "HOME", "COMPASS_DIR"])
def test_ordinary_names_stay(name):
    assert not is_secret_env_name(name)


def test_an_allowed_name_still_passes():
    assert filter_env({"MYSQL_PWD": "x"}, allow=("MYSQL_PWD",)) == {"MYSQL_PWD": "x"}


def test_no_secret_variable_reaches_a_command(world):
    import os

    env = {**os.environ, **LEAKY, **ORDINARY}
    sandbox = Sandbox(world["ws"], SandboxPolicy(runner=world["runner"]), env=env)
    out = sandbox.run("env; cat /proc/self/environ | tr '\\0' '\\n'", timeout=10, max_output=100000).output
    assert "CANARY" not in out, [line for line in out.splitlines() if "CANARY" in line]
    assert "GIT_AUTHOR_NAME=Ada" in out and "LANG=C.UTF-8" in out

