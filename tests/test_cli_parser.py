"""The command line's options are a contract (scripts and the systemd units
call them), and each command's parser gets them only when it is used."""

from __future__ import annotations

import argparse

import pytest

from bounceledger import cli

#: Every option string, and every positional by its name, each command
#: takes besides the global options (which every command takes, before or
#: after its name). A change here breaks someone's script: extend, never
#: rename or drop.
GLOBAL_OPTIONS = {"--config", "--database-url", "--debug", "--log-format", "--log-level", "-h/--help"}
COMMAND_OPTIONS: dict[str, set[str]] = {
    '': set(),
    'changes': {'--after', '--campaign', '--json', '--limit', '--types'},
    'db': set(),
    'db current': set(),
    'db downgrade': {'revision'},
    'db upgrade': {'revision'},
    'demo': {'--webhook', '--webhook-secret-file'},
    'explain': {'--json', 'code'},
    'forget': {'--dry-run', '--json', '--note', 'address'},
    'ingest-log': {'--follow', '--format', '--interval', '--reread', 'paths'},
    'lookup': {'--json', 'address'},
    'parse': {'--json', 'paths'},
    'poll': {'--interval', '--mailbox', '--once'},
    'report': {'--campaign', '--csv', '--json', '--recipients', '--since', '--until'},
    'run': {'--metrics-port', '--once', '--stop-after', '--workers'},
    'sendlog': set(),
    'sendlog parse': {'--explain-first-hop', '--format', '--json', 'paths'},
    'serve': {'--host', '--port', '--token-file'},
    'suppressions': {'--csv', '--json', '--since'},
    'suppressions add': {'--note', 'address'},
    'suppressions check': {'--json', 'address'},
    'suppressions import': {'--json', 'file'},
    'suppressions remove': {'--note', 'address'},
    'webhooks': {'--json'},
    'webhooks replay': {'--endpoint', '--from'},
    'webhooks secret': set(),
    'webhooks test': {'--secret-file', '--timeout', 'url'},
}


def _options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    own: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.update(_options(child.filled() if isinstance(child, cli._Parser) else child, (*path, name)))
        else:
            own.add("/".join(action.option_strings) if action.option_strings else action.dest)
    found[" ".join(path)] = own
    return found


def test_every_command_takes_exactly_its_options_and_the_global_ones() -> None:
    found = _options(cli.build_parser())
    assert set(found) == set(COMMAND_OPTIONS)
    for command, options in found.items():
        assert options == COMMAND_OPTIONS[command] | GLOBAL_OPTIONS, command


def test_a_command_gets_its_arguments_only_when_used() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert all(child._fill is not None for child in commands.values())
    args = parser.parse_args(["parse", "--json", "some.eml", "--log-level", "DEBUG"])
    assert (args.func, args.json, args.paths, args.log_level) == (cli.cmd_parse, True, ["some.eml"], "DEBUG")
    assert [name for name, child in commands.items() if child._fill is None] == ["parse"]


def test_global_options_before_the_command_still_count() -> None:
    args = cli.build_parser().parse_args(["--log-level", "INFO", "db", "upgrade"])
    assert (args.log_level, args.func, args.revision) == ("INFO", cli.cmd_db, "head")


@pytest.mark.parametrize(("columns", "width"), [("100", 98), ("0", None), ("x", None)])
def test_help_width_follows_columns_as_shutil_would(monkeypatch, columns: str, width: int | None) -> None:
    import shutil

    monkeypatch.setenv("COLUMNS", columns)
    cli._terminal_width.cache_clear()
    try:
        assert cli._terminal_width() == (width if width is not None else shutil.get_terminal_size().columns - 2)
    finally:
        cli._terminal_width.cache_clear()
