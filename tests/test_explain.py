"""``bounceledger explain``: the ledger's classifier, in plain words, or a clear refusal.

Run as a user would (the real command in a subprocess); the reasons it gives
are compared with what ``parse`` says of a real returned message and with
what the ledger recorded for the same reply.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

import bounceledger
from bounceledger.db import Database
from bounceledger.models import Delivery
from tests.web.conftest import seed

SAMPLES = Path(bounceledger.__file__).resolve().parent / "samples"
#: The bundled DSN in which block1@example.test was refused with 554 5.7.1.
POLICY_DSN = SAMPLES / "returned" / "new" / "0003.sample.msg"
EXPLAIN_KEYS = {"code", "replycode", "status", "meaning", "reason", "category", "hardbounce", "permanent", "outcome", "schema"}


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", "explain", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    assert "Traceback" not in result.stderr
    return result


def explained(*args: str) -> list[dict[str, object]]:
    result = explain(*args, "--json")
    assert result.returncode == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    for item in found:
        assert set(item) == EXPLAIN_KEYS
    return found


def _parsed_block1() -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", "parse", str(POLICY_DSN), "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    [message] = [json.loads(line) for line in result.stdout.splitlines()]
    [record] = [r for r in message["records"] if r["recipient"] == "block1@example.test"]
    return record


def test_five_seven_one_gives_the_reason_parse_gives() -> None:
    record = _parsed_block1()
    assert record["status"] == "5.7.1"
    # The server's whole reply, as parse read it: the same reason, category and hard/soft.
    [said] = explained(str(record["diagnostic"]))
    assert (said["reason"], said["category"], said["hardbounce"]) == (
        record["reason"], record["category"], record["hardbounce"],
    )
    assert said["status"] == "5.7.1" and said["outcome"] == "permanent" and said["permanent"] is True
    # The bare code: the same answer as parse of a report that carries nothing but that code.
    [bare] = explained("5.7.1")
    from tests.bounces.test_one_classifier import _only_verdict, dsn

    verdict = _only_verdict(dsn("5.7.1"))
    assert (bare["reason"], bare["category"], bare["hardbounce"]) == (verdict.reason, verdict.category, verdict.hardbounce)


def test_explain_agrees_with_the_ledger(database: Database, tmp_path: Path) -> None:
    """The reply the send log recorded for block1, explained, gives the ledger's own reason."""
    seed(database, tmp_path)
    with database.session() as session:
        delivery = session.scalar(select(Delivery).where(Delivery.recipient == "block1@example.test"))
        assert delivery is not None and delivery.state == "bounced"
        reason, status, detail = delivery.reason, delivery.status, delivery.detail
    [said] = explained(f"{detail}")
    assert said["status"] == status
    assert said["reason"] == reason


def test_success_codes_are_success_not_a_failure_reason() -> None:
    for code in ("250", "2.0.0", "250 2.0.0 Ok: queued as 4Xk9"):
        [said] = explained(code)
        assert said["outcome"] == "success", code
        assert said["reason"] == "delivered" and said["hardbounce"] is False and said["permanent"] is False
        assert said["meaning"].startswith("Success"), said["meaning"]
        assert "problem" not in said["meaning"] and "fail" not in said["meaning"].lower()
        text = explain(code).stdout
        assert "success" in text and "reason" not in text and "failure" not in text


def test_garbage_is_one_line_and_exit_one() -> None:
    for args in (["garbage"], ["5.1.1", "no code in here"], ["   "]):
        result = explain(*args)
        assert result.returncode == 1, args
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bounceledger: error:"), result.stderr
    assert "'garbage'" in explain("garbage").stderr


def test_two_codes_are_both_explained() -> None:
    first, second = explained("5.1.1", "4.2.2")
    assert (first["code"], first["reason"], first["hardbounce"]) == ("5.1.1", "userunknown", True)
    assert (second["code"], second["reason"], second["outcome"]) == ("4.2.2", "mailboxfull", "temporary")
    text = explain("5.1.1", "4.2.2").stdout
    assert text.startswith("5.1.1: ") and "\n\n4.2.2: " in text and text.count("  reason ") == 2
    # Quoted replies are one each; a reply code and the status after it are one code.
    assert [s["code"] for s in explained("550 5.1.1 no such user", "452 4.2.2")] == ["550 5.1.1 no such user", "452 4.2.2"]
    [one] = explained("550", "5.1.1")
    assert (one["code"], one["replycode"], one["status"]) == ("550 5.1.1", "550", "5.1.1")
    assert [s["code"] for s in explained("550", "5.1.1", "421")] == ["550 5.1.1", "421"]
