"""The installed distribution holds only the ``bounceledger`` package.

The repository keeps ``ingest/``, ``models/`` and ``migrations/`` at its top
level; pyproject maps them into ``bounceledger.*`` so that ``pip install``
adds no generic top-level names (``models``, ``migrations``) that would
collide with other projects in the same site-packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def package_folders() -> dict[str, Path]:
    """Every importable package in the repository, by its installed name."""
    roots = {"bounceledger": ROOT / "bounceledger"} | {
        name: ROOT / folder for name, folder in SETUPTOOLS["package-dir"].items()
    }
    found: dict[str, Path] = {}
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            found[".".join((name, *relative))] = init.parent
    return found


def test_every_package_folder_is_listed_for_installation() -> None:
    assert set(SETUPTOOLS["packages"]) == set(package_folders())


def test_package_dir_covers_the_top_level_folders() -> None:
    assert SETUPTOOLS["package-dir"] == {
        "bounceledger.ingest": "ingest",
        "bounceledger.models": "models",
        "bounceledger.migrations": "migrations",
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install .`` of this checkout into an empty target folder."""
    target = tmp_path_factory.mktemp("site-packages")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(ROOT)],
        check=True,
        timeout=300,
    )
    return target


def test_install_adds_only_bounceledger_to_site_packages(installed: Path) -> None:
    names = {path.name for path in installed.iterdir()}
    assert names == {"bin", "bounceledger", "bounceledger-0.1.0.dist-info"}
    assert (installed / "bounceledger" / "py.typed").is_file()
    dist_info = installed / "bounceledger-0.1.0.dist-info"
    top_level = dist_info / "top_level.txt"
    if top_level.exists():
        assert top_level.read_text().split() == ["bounceledger"]


def test_installed_copy_runs_its_migrations_without_the_checkout(installed: Path, tmp_path: Path) -> None:
    """The installed package finds its own migrations and modules, not the repo's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOUNCELEDGER_")}
    env["PYTHONPATH"] = str(installed)
    probe = (
        "import importlib.util, bounceledger.ingest, bounceledger.models, bounceledger.migrations\n"
        "print(bounceledger.ingest.__file__)\n"
        "print(bounceledger.migrations.__file__)\n"
        "print(importlib.util.find_spec('models'), importlib.util.find_spec('migrations'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith(str(installed / "bounceledger" / "ingest"))
    assert out[1].startswith(str(installed / "bounceledger" / "migrations"))
    assert out[2] == "None None"

    ledger = tmp_path / "ledger.db"
    upgrade = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--database-url", f"sqlite:///{ledger}", "db", "upgrade"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    current = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--database-url", f"sqlite:///{ledger}", "db", "current"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert current.returncode == 0, current.stderr
    newest = max(path.name.split("_")[0] for path in (ROOT / "migrations" / "versions").glob("[0-9]*.py"))
    assert current.stdout.split() == [newest]
