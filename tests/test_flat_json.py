"""The quick encoder of flat JSON documents writes what the general one writes."""

from __future__ import annotations

import json

import pytest

from bounceledger.ingest.dbutil import JsonText, flat_json_text, json_text

CASES = [
    {},
    {"line": "Nov  1 00:00:02 mta postfix/smtp[316]: EE65F53E942: to=<u@d.example>, status=sent (250 Ok)"},
    {"line": 'quote " backslash \\ nul \x00 unit \x1f del \x7f', "relay_port": 25, "hardbounce": True},
    {"line": "é 日本 \u2028 \ud800 lone surrogate", "smtp_stage": "rcpt", "soft": False},
    {"nothing": None, "ratio": 1.5, "big": 10**30, "negative": -3, "list": [1, "x"], "nested": {"a": 1}},
    {'key with "quotes" and \\': "value", "ключ": "значение"},
    {"absent": None, "refs": ["<a@b>", 'q"uote', "é"], "none": [], "mixed": ["x", None], "numbers": [1, 2]},
]


@pytest.mark.parametrize("fields", CASES)
def test_same_text_as_the_general_encoder(fields: dict[str, object]) -> None:
    quick = flat_json_text(fields)
    assert type(quick) is JsonText
    assert quick == json_text(fields)
    assert json.loads(quick) == json.loads(json_text(fields))
