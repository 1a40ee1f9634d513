"""The systemd units in deploy/: valid for systemd, hardened, and in step with the program.

``systemd-analyze verify`` reads each unit as systemd would (unknown keys,
bad values, specifiers, a command that is not there); the units name
``/opt/bounceledger/bin/bounceledger`` (the README's install), which is
swapped for this checkout's own entry point so the check needs no install.
It needs the ``systemd`` package (tests/install-system-deps.sh installs it;
it runs without systemd as PID 1): without it the check is skipped here and
fails under CI. The other checks need nothing but Python: every command
line parses with bounceledger's own parser, every ``%d/NAME`` credential is
loaded, every ``BOUNCELEDGER_*`` variable is a setting.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bounceledger import config
from bounceledger.cli import build_parser
from tests.mailstack.fixtures import skip_or_fail

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = ("bounceledger-run.service", "bounceledger-serve.service")
INSTALLED = "/opt/bounceledger/bin/bounceledger"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "StateDirectory": "bounceledger",
    "CapabilityBoundingSet": "",
}


def _service(name: str) -> dict[str, list[str]]:
    """The [Service] section, each key with all its values (systemd allows repeats)."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        skip_or_fail("systemd-analyze is not installed (Debian package systemd; run tests/install-system-deps.sh as root)")
    entry = Path(sys.executable).parent / "bounceledger"
    assert entry.is_file(), f"{entry}: the checkout is not installed in this venv"
    for name in UNITS:
        (tmp_path / name).write_text((DEPLOY / name).read_text().replace(INSTALLED, str(entry)))
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True, text=True, timeout=120,
    )
    said = [line for line in (result.stdout + result.stderr).splitlines() if "bounceledger" in line]
    assert result.returncode == 0 and not said, result.stdout + result.stderr  # a warning is a finding too


def test_verify_would_see_a_mistake(tmp_path: Path) -> None:
    """The check above can fail: the same run on a unit with a misspelt value says so."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        skip_or_fail("systemd-analyze is not installed (Debian package systemd)")
    text = (DEPLOY / UNITS[0]).read_text().replace(INSTALLED, str(Path(sys.executable).parent / "bounceledger"))
    (tmp_path / UNITS[0]).write_text(text.replace("ProtectSystem=strict", "ProtectSystem=strickt"))
    result = subprocess.run([analyze, "verify", str(tmp_path / UNITS[0])], capture_output=True, text=True, timeout=120)
    assert "strickt" in result.stdout + result.stderr


@pytest.mark.parametrize("name", UNITS)
def test_hardened(name: str) -> None:
    service = _service(name)
    for key, value in HARDENING.items():
        assert service.get(key) == [value], f"{name}: {key}"
    assert service["User"] == ["bounceledger"] and "root" not in service["Group"]
    assert service.get("LoadCredential"), f"{name}: secrets come as credentials"
    assert not any(k.startswith("Environment") and "SECRET=" in v.upper() for k, vs in service.items() for v in vs)


@pytest.mark.parametrize("name", UNITS)
def test_commands_credentials_and_variables_are_the_programs(name: str) -> None:
    service = _service(name)
    loaded = {value.partition(":")[0] for value in service["LoadCredential"]}
    commands = service.get("ExecStartPre", []) + service["ExecStart"]
    environment = [value for value in service.get("Environment", [])]
    used = {part.split("%d/", 1)[1].split()[0] for part in commands + environment if "%d/" in part}
    assert used and used <= loaded, f"{name}: credentials used but not loaded: {used - loaded}"
    assert loaded <= used, f"{name}: credentials loaded but never used: {loaded - used}"

    parser = build_parser()
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == INSTALLED
        parser.parse_args([arg.replace("%d", "/run/credentials/x") for arg in argv[1:]])  # exits on an unknown option

    settings = set(config._environment_keys(config._schema())) | {
        config.ENV_PREFIX + name for name in config.OTHER_ENVIRONMENT
    }
    for assignment in environment:
        variable = assignment.partition("=")[0]
        assert variable in settings, f"{name}: {variable} is not a bounceledger setting"


def test_units_are_ini_files_systemd_and_editors_read() -> None:
    for name in UNITS:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string((DEPLOY / name).read_text())
        assert parser.sections() == ["Unit", "Service", "Install"], name
        assert parser["Install"]["WantedBy"] == "multi-user.target"
