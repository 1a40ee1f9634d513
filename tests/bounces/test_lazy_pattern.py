"""A pattern compiled on first use (:func:`bounceledger.ingest.bounces._prefilter.lazy`)
answers as ``re.compile`` does, and one behind :func:`quick` is never
compiled for a text without its literals.

The modules define their patterns with ``lazy`` so that importing the
parser compiles none of them; a pattern text that does not compile would
then only fail when first used, so every one of them is compiled here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import textwrap

import pytest

import bounceledger.ingest.bounces
from bounceledger.ingest.bounces import _prefilter
from bounceledger.ingest.bounces._prefilter import LazyPattern, Quick, RuleTable, lazy, quick

_CASES = [
    (r"(?P<code>[245])\.(\d{1,3})\.(\d{1,3})", 0),
    (r"^Final-Recipient:\s*(?:rfc822;)?\s*(\S+)", re.IGNORECASE | re.MULTILINE),
    (r"(?im)^diagnostic-code:\s*(.*)$", 0),
    (r"mailbox (?:is )?full|over ?quota", re.IGNORECASE),
    (r"\s*[,;]\s*", 0),
    (r"x*", 0),
    (r"(?x) user \s+ unknown", 0),
    (r"[a-z]+", re.ASCII),
]

_TEXTS = [
    "",
    "Status: 5.1.1 and 4.2.2\nFinal-Recipient: rfc822; someone@example.org\n",
    "final-recipient:   other@example.net\r\nDiagnostic-Code: smtp; 550 5.2.2 Mailbox is FULL\n",
    "a, b;c ,d  user   unknown OVERQUOTA",
    "nothing to see here",
]


def _matches(found: object) -> list[tuple]:
    return [(m.span(), m.groups(), m.groupdict()) for m in found]  # type: ignore[attr-defined]


def _one(found: re.Match[str] | None) -> tuple | None:
    return None if found is None else (found.span(), found.groups(), found.re.pattern)


@pytest.mark.parametrize(("source", "flags"), _CASES)
def test_lazy_pattern_answers_as_the_compiled_pattern(source: str, flags: int) -> None:
    compiled = re.compile(source, flags)
    pattern = lazy(source, flags)
    assert pattern.pattern == compiled.pattern
    assert pattern.flags == compiled.flags
    assert pattern.groups == compiled.groups
    assert pattern.groupindex == compiled.groupindex
    for text in _TEXTS:
        assert _one(pattern.search(text)) == _one(compiled.search(text))
        assert _one(pattern.search(text, 5, 40)) == _one(compiled.search(text, 5, 40))
        assert _one(pattern.match(text)) == _one(compiled.match(text))
        assert _one(pattern.fullmatch(text)) == _one(compiled.fullmatch(text))
        assert _matches(pattern.finditer(text)) == _matches(compiled.finditer(text))
        assert pattern.findall(text) == compiled.findall(text)
        assert pattern.sub("<>", text) == compiled.sub("<>", text)
        assert pattern.sub(lambda m: m.group().upper(), text, 1) == compiled.sub(lambda m: m.group().upper(), text, 1)
        assert pattern.subn("-", text) == compiled.subn("-", text)
        assert pattern.split(text) == compiled.split(text)


@pytest.mark.parametrize(("source", "flags"), _CASES)
def test_quick_lazy_pattern_answers_as_the_compiled_pattern(source: str, flags: int) -> None:
    compiled = re.compile(source, flags)
    pattern = quick(lazy(source, flags))
    for text in _TEXTS:
        assert _one(pattern.search(text)) == _one(compiled.search(text))
        assert _one(pattern.match(text)) == _one(compiled.match(text))
        assert _one(pattern.fullmatch(text)) == _one(compiled.fullmatch(text))
        assert _matches(pattern.finditer(text)) == _matches(compiled.finditer(text))
        assert pattern.findall(text) == compiled.findall(text)
        assert pattern.sub("<>", text) == compiled.sub("<>", text)
        assert pattern.split(text) == compiled.split(text)


def test_a_lazy_pattern_is_compiled_once_on_first_use() -> None:
    pattern = lazy(r"relay(?:ing)? denied", re.IGNORECASE)
    assert isinstance(pattern, LazyPattern)
    assert pattern._compiled is None
    assert pattern.search("Relaying denied here") is not None
    first = pattern.compiled()
    assert pattern.search("nothing") is None
    assert pattern.compiled() is first


def test_a_text_without_the_literals_never_compiles_the_pattern() -> None:
    pattern = quick(lazy(r"^[ \t]*Remote host said:\s*(?P<reply>.*)$", re.IGNORECASE | re.MULTILINE))
    assert isinstance(pattern, Quick)
    inner = pattern._pattern
    text = "Your message could not be delivered.\nReason: mailbox full\n"
    assert pattern.search(text) is None
    assert pattern.match(text) is None
    assert list(pattern.finditer(text)) == []
    assert pattern.findall(text) == []
    assert pattern.sub("x", text) == text
    assert inner._compiled is None
    found = pattern.search(text + "  remote HOST said: 550 no such user\n")
    assert found is not None and found.group("reply") == "550 no such user"
    assert inner._compiled is not None


def test_a_bad_pattern_text_fails_on_first_use() -> None:
    pattern = lazy(r"(unbalanced")
    with pytest.raises(re.error):
        pattern.search("text")


def test_rule_table_takes_lazy_patterns_as_compiled_ones() -> None:
    rows = [(r"mailbox (?:is )?full", "mailboxfull"), (r"user unknown|no such user", "userunknown")]
    texts = ["550 No such user here", "452 Mailbox is full", "421 try later"]
    compiled = RuleTable([(re.compile(p, re.IGNORECASE), v) for p, v in rows], _prefilter.LiteralIndex())
    lazily = RuleTable([(lazy(p, re.IGNORECASE), v) for p, v in rows], _prefilter.LiteralIndex())
    assert [lazily.first(t) for t in texts] == [compiled.first(t) for t in texts] == ["userunknown", "mailboxfull", None]


def _module_patterns() -> list[tuple[str, str, LazyPattern]]:
    found = []
    names = ["bounceledger.ingest.bounces"] + [info.name for info in pkgutil.walk_packages(bounceledger.ingest.bounces.__path__, "bounceledger.ingest.bounces.")]
    for name in names:
        if name.endswith("_literals_build"):
            continue
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            values = value if isinstance(value, (tuple, list)) else (value,)
            for one in values:
                one = one[0] if isinstance(one, tuple) and one else one
                inner = one._pattern if isinstance(one, Quick) else one
                if isinstance(inner, LazyPattern):
                    found.append((name, attribute, inner))
    return found


def test_the_modules_define_lazy_patterns() -> None:
    assert len(_module_patterns()) > 100


def test_every_module_lazy_pattern_compiles_with_the_flags_it_reports() -> None:
    wrong = []
    for module, attribute, pattern in _module_patterns():
        compiled = re.compile(pattern.pattern, pattern._given_flags)
        if compiled.flags != pattern.flags:
            wrong.append((module, attribute))
    assert not wrong


def test_importing_the_parser_and_its_detectors_compiles_no_module_pattern() -> None:
    """In a fresh interpreter (this one has compiled them above)."""
    script = textwrap.dedent("""
        import bounceledger.ingest.bounces
        import bounceledger.ingest.bounces.detectors
        import bounceledger.ingest.bounces.detectors.plaintext
        from bounceledger.ingest.bounces._prefilter import LazyPattern, Quick
        import sys
        lazy = [v._pattern if isinstance(v, Quick) else v
                for name, module in list(sys.modules.items()) if name.startswith("bounceledger.ingest.bounces")
                for v in vars(module).values()]
        lazy = [v for v in lazy if isinstance(v, LazyPattern)]
        print(len(lazy), sum(v._compiled is not None for v in lazy))
    """)
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    defined, compiled = map(int, found.stdout.split())
    assert defined > 100
    assert compiled == 0
