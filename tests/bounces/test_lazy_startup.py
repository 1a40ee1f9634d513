"""Importing the parser does no work a run may never need.

The rule tables' alternatives are compiled on first search, the compiled
copies of the reason tables on first use, and flufl.bounce (the last-resort
stage) is imported when that stage first runs: each is checked in a fresh
interpreter, as a user's process starts, and then that the work does happen
when it is needed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
from bounceledger.ingest.bounces import classify, reasons, _flufl, parse

def compiled_alternatives():
    return sum(alt[2]._compiled is not None for table in (classify._TEXT_TABLE, classify._STRONG_TEXT_TABLE)
               for row in table._rows for alt in row[3])

found = {"flufl": "flufl.bounce" in sys.modules, "compiled": compiled_alternatives(),
         "tables": sorted(name for name in ("TEXT_RULES", "STRONG_TEXT_RULES", "HOST_RULES") if name in vars(reasons))}
found["reason"] = classify.reason_from_text("550 5.2.2 the mailbox is full")
found["compiled_after"] = compiled_alternatives()
found["available"] = _flufl.AVAILABLE
found["flufl_after"] = "flufl.bounce" in sys.modules
print(json.dumps(found))
"""


def test_import_compiles_no_rule_alternative_and_imports_no_flufl():
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    assert found["flufl"] is False
    assert found["compiled"] == 0
    assert found["tables"] == []
    assert found["reason"] == "mailboxfull"
    assert found["compiled_after"] >= 1  # "mailbox (?:is |was )?full", compiled when searched
    assert found["available"] is True and found["flufl_after"] is True


def test_compiled_reason_tables_are_made_on_first_use():
    from bounceledger.ingest.bounces import reasons

    assert len(reasons.TEXT_RULES) == len(reasons._TEXT_RULES)
    assert len(reasons.STRONG_TEXT_RULES) == len(reasons._STRONG_TEXT_RULES)
    assert len(reasons.HOST_RULES) == len(reasons._HOST_RULES)
    assert all(pattern.pattern == text for (pattern, _), (text, _) in zip(reasons.TEXT_RULES, reasons._TEXT_RULES))
    assert reasons.TEXT_RULES is reasons.TEXT_RULES  # kept once made
    with pytest.raises(AttributeError):
        reasons.NO_SUCH_TABLE  # noqa: B018
