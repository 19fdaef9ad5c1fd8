"""Configuration checked at start-up: unknown `HOOKKIT_*` names, bad values, unsafe
combinations and an unreachable database stop the CLI with one clear line each and exit
status 2, never a traceback; `config` prints the effective configuration, secrets masked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connector.config import Settings

from .conftest import free_port, hermetic_env

ROOT = Path(__file__).resolve().parent.parent


def _refusals(result) -> list[str]:
    """The `bad configuration:` lines of a refused command (asserting nothing else shows)."""
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("bad configuration: ") for line in lines), lines
    return [line.removeprefix("bad configuration: ") for line in lines]


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("HOOKKIT_DATABSE_URL", "HOOKKIT_DATABASE_URL"),
        ("HOOKKIT_METRIC_TOKEN", "HOOKKIT_METRICS_TOKEN"),
        ("HOOKKIT_RETRY_SCHEDULES", "HOOKKIT_RETRY_SCHEDULE"),
    ],
)
def test_a_misspelt_setting_is_refused_with_a_suggestion(cli, name, suggestion):
    """An unknown HOOKKIT_* name stops start-up and names the setting it was probably meant as."""
    (line,) = _refusals(cli("check", env={name: "x"}))
    assert line == f"{name}: unknown setting; did you mean {suggestion}?"


def test_an_unknown_name_nothing_resembles_points_to_the_table(cli):
    """A name close to no setting says so, without a wrong guess."""
    (line,) = _refusals(cli("check", env={"HOOKKIT_ZZZ": "1"}))
    assert line == "HOOKKIT_ZZZ: unknown setting (see README: Configuration)"


def test_every_problem_is_its_own_line(cli):
    """Several bad variables at once: each is named on a line of its own."""
    env = {
        "HOOKKIT_LEASE": "soon",
        "HOOKKIT_EMBEDDED_WORKER": "maybe",
        "HOOKKIT_RETENTION": "a month",
        "HOOKKIT_PORTT": "9000",
    }
    lines = _refusals(cli("serve", env=env))
    assert len(lines) == 4, lines
    for name in env:
        assert sum(line.startswith(f"{name}:") for line in lines) == 1, (name, lines)
    assert "not a duration: 'soon'" in " ".join(lines)
    assert "did you mean HOOKKIT_PORT?" in " ".join(lines)


@pytest.mark.parametrize(
    ("name", "value"),
    [("HOOKKIT_LOG_FORMAT", "'xml'"), ("HOOKKIT_LOG_LEVEL", "'loud'"), ("HOOKKIT_PORT", "0")],
)
def test_out_of_range_values_are_refused(cli, name, value):
    """Values that parse but cannot work name their variable and value."""
    (line,) = _refusals(cli("config", env={name: value.strip("'")}))
    assert line.startswith("out of range: ") and f"{name}={value}" in line


def test_private_targets_on_a_public_address_are_refused(cli):
    """Development mode (private targets allowed) listening beyond loopback stops start-up."""
    env = {"HOOKKIT_HOST": "0.0.0.0", "HOOKKIT_ALLOW_PRIVATE_TARGETS": "true"}
    (line,) = _refusals(cli("serve", env=env))
    assert line.startswith("HOOKKIT_ALLOW_PRIVATE_TARGETS=true while HOOKKIT_HOST=0.0.0.0")
    public = cli("config", env={"HOOKKIT_HOST": "0.0.0.0", "HOOKKIT_ALLOW_PRIVATE_TARGETS": "0"})
    assert public.exit_code == 0 and "HOOKKIT_HOST=0.0.0.0" in public.stdout
    loopback = cli("config", env={"HOOKKIT_HOST": "::1"})
    assert loopback.exit_code == 0, loopback.stderr


def test_an_unreachable_database_is_one_line(cli):
    """A database that does not answer stops start-up naming the setting, no traceback."""
    url = f"postgresql+psycopg://hookkit@127.0.0.1:{free_port()}/nowhere?connect_timeout=3"
    (line,) = _refusals(cli("keys", "create", "acme", env={"HOOKKIT_DATABASE_URL": url}))
    assert line.startswith("HOOKKIT_DATABASE_URL: database unreachable: ")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_smtp_server_that_does_not_answer_is_one_line(cli, command):
    """With HOOKKIT_SMTP_URL set, a server nobody listens on stops start-up naming it."""
    port = free_port()
    env = {"HOOKKIT_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    (line,) = _refusals(cli(command, env=env))
    assert line.startswith(f"HOOKKIT_SMTP_URL: the SMTP server 127.0.0.1:{port} fails: ")
    assert "ConnectionRefusedError" in line


def test_config_prints_the_effective_configuration_with_secrets_masked(cli):
    """`config` shows every setting by its variable, the values in force, and no secret."""
    secret_key = "k" * 40
    env = {
        "HOOKKIT_SECRET_KEY": secret_key,
        "HOOKKIT_METRICS_TOKEN": "metrics-token-value",
        "HOOKKIT_SMTP_URL": "smtp://mailer:hunter2@mail.example.com:587?starttls=true",
        "HOOKKIT_RETRY_SCHEDULE": "10s,5m",
        "HOOKKIT_RETENTION": "7d",
    }
    result = cli("config", env=env)
    assert result.exit_code == 0, result.stderr
    shown = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(shown) == {spec.metadata["env"] for spec in Settings.__dataclass_fields__.values()}
    assert shown["HOOKKIT_SECRET_KEY"] == "***"
    assert shown["HOOKKIT_METRICS_TOKEN"] == "***"
    assert shown["HOOKKIT_ENCRYPTION_KEYS"] == "***"
    assert shown["HOOKKIT_SMTP_URL"] == "smtp://mailer:***@mail.example.com:587?starttls=true"
    assert shown["HOOKKIT_RETRY_SCHEDULE"] == "10s,300s"
    assert shown["HOOKKIT_RETENTION"] == "604800"
    assert shown["HOOKKIT_ALLOW_PRIVATE_TARGETS"] == "true"
    for secret in (secret_key, "metrics-token-value", "hunter2"):
        assert secret not in result.stdout
    # One masking for both: what `config` prints is what repr(Settings) shows.
    settings = Settings.from_env(env)
    assert "hunter2" not in repr(settings) and secret_key not in repr(settings)


def test_a_real_process_refuses_bad_configuration_with_exit_status_2():
    """`python -m connector serve` with a typo exits 2 with one line on stderr, no traceback."""
    env = hermetic_env(HOOKKIT_PROT="9000", HOOKKIT_DATABASE_URL="sqlite:///unused.db")
    done = subprocess.run(
        [sys.executable, "-m", "connector", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bad configuration: HOOKKIT_PROT: unknown setting; did you mean HOOKKIT_PORT?"
    ]


def test_gunicorn_with_a_bad_configuration_stops_with_the_same_line():
    """`gunicorn app:app` (no CLI) refuses a typo with the CLI's line and stops, no traceback."""
    env = hermetic_env(HOOKKIT_PROT="9000", HOOKKIT_DATABASE_URL="sqlite:///unused.db")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-b",
            f"127.0.0.1:{free_port()}",
            "app:app",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert (
        "bad configuration: HOOKKIT_PROT: unknown setting; did you mean HOOKKIT_PORT?"
        in done.stderr.splitlines()
    )
    assert "Traceback" not in done.stderr
