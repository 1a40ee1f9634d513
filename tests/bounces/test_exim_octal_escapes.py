"""Exim writes a reply's UTF-8 letters as octal escapes; they are read as the letters they are.

Exim prints every byte above 127 of a remote reply as "\\ooo" (src/string.c,
string_printing2()), so a provider's refusal in Chinese or Japanese came out as
backslashes and digits: no phrase of the reason table could match it, and the
support view showed the escapes.
"""

from __future__ import annotations

from pathlib import Path

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.bounces.classify import classify
from bounceledger.ingest.mta_replies import exim_unescaped

FIXTURE = Path(__file__).parent / "fixtures" / "charsets" / "exim-octal-escaped-utf8-reply.eml"


def _escaped(text: str) -> str:
    return "".join(f"\\{b:03o}" for b in text.encode("utf-8"))


def test_the_real_exim_notice_keeps_the_japanese_words() -> None:
    (verdict,) = parse(FIXTURE.read_bytes()).verdicts
    assert verdict.diagnostic is not None and verdict.diagnostic.endswith("ユーザーは登録されていません")
    assert (verdict.reason, verdict.hardbounce) == ("userunknown", True)


def test_escaped_words_are_classified_as_the_words() -> None:
    # src: QQ Mail help "退信原因": "该用户不存在" (this user does not exist); no code but the reply's 550
    assert classify(None, "550", "550 " + _escaped("该用户不存在")).reason == "userunknown"


def test_only_runs_that_read_as_utf8_are_decoded() -> None:
    assert exim_unescaped(r"a \012\011 b") == r"a \012\011 b"  # escaped control characters stay
    assert exim_unescaped(r"caf\351") == r"caf\351"  # a Latin-1 byte is no UTF-8
    assert exim_unescaped("caf" + _escaped("é") + " ok") == "café ok"
    assert exim_unescaped(r"C:\dir\x") == r"C:\dir\x"
