"""Decide whether a logged attempt handed the message to someone else.

Only a first hop -- the moment the message leaves the sender's organisation
-- may set the provisional delivery state. Hand-offs that stay inside (a
content filter on a loopback port, local delivery to a mailbox, an LMTP
socket into Dovecot) are kept as history but must not count as "accepted":
the next hop can still fail, and the log line for that next hop is the one
that matters.

Two signals, both cheap:

* the delivery agent: ``local``, ``virtual``, ``pipe``, ``error``, ``retry``
  and ``discard`` never speak SMTP to another organisation;
* the relay, matched against configured patterns. A pattern is ``host``,
  ``host:port``, ``ip:port`` or ``[ipv6]:port``; host and port accept
  :mod:`fnmatch` globs (``*.corp.example``, ``10.0.*:25``, ``private/*``).
  The host part is tried against the relay's name, its address and the unix
  socket path Postfix shows in brackets (``host[private/dovecot-lmtp]``).

Loopback as such is deliberately *not* internal: test rigs, SSH tunnels and
local smarthosts (``127.0.0.1:2525``) are real first hops; only the
conventional content-filter ports are listed by default.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase, translate
from typing import NamedTuple

__all__ = [
    "DEFAULT_INTERNAL_RELAYS",
    "INTERNAL_AGENTS",
    "DEFAULTS_ENTRY",
    "FirstHopReason",
    "RelayClassifier",
    "RelayPattern",
    "parse_pattern",
]

DEFAULT_INTERNAL_RELAYS: tuple[str, ...] = (
    # amavisd-new / spamassassin / clamsmtp style content filters and their
    # re-injection listeners.
    "127.0.0.1:10024",
    "127.0.0.1:10025",
    "127.0.0.1:10026",
    "[::1]:10024",
    "[::1]:10025",
    "[::1]:10026",
    "localhost:10024",
    "localhost:10025",
    "localhost:10026",
    # Dovecot as a pipe transport or LMTP socket; Postfix's private unix sockets.
    "dovecot",
    "private/*",
    # Postfix's relay= for the local and virtual agents.
    "local",
    "virtual",
)

#: An ``internal_relays`` entry that stands for every pattern of :data:`DEFAULT_INTERNAL_RELAYS`:
#: a configured list replaces the defaults, and ``["defaults", "10.0.0.5:25"]`` adds to them.
DEFAULTS_ENTRY = "defaults"


def with_defaults(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """``patterns`` with a :data:`DEFAULTS_ENTRY` entry replaced by the built-in patterns."""
    if DEFAULTS_ENTRY not in patterns:
        return patterns
    expanded: list[str] = []
    for pattern in patterns:
        for one in DEFAULT_INTERNAL_RELAYS if pattern == DEFAULTS_ENTRY else (pattern,):
            if one not in expanded:
                expanded.append(one)
    return tuple(expanded)

# Delivery agents that never hand a message to another organisation.
INTERNAL_AGENTS: frozenset[str] = frozenset(
    {"local", "virtual", "pipe", "error", "retry", "discard"}
)

# Enough for any realistic set of relays; bounded so a hostile log cannot
# grow it without limit.
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class RelayPattern:
    """One parsed pattern: a host glob and an optional port glob."""

    host: str  # lowercased glob
    port: str | None = None  # glob on the decimal port, None = any port


# The steps of the rule (RelayClassifier.rule), as scripts see them in
# FirstHopReason.rule; the first two words say "not a first hop".
AGENT = "agent"
INTERNAL_RELAY = "internal-relay"
NO_RELAY = "no-relay"
EXTERNAL_RELAY = "external-relay"
FIRST_HOP_RULES = frozenset({NO_RELAY, EXTERNAL_RELAY})


class FirstHopReason(NamedTuple):
    """Why an attempt did or did not count as a first hop.

    ``rule`` is a stable word for scripts (``agent``, ``internal-relay``,
    ``no-relay``, ``external-relay``); ``text`` says it for an operator.
    A tuple rather than a dataclass: :meth:`RelayClassifier.classify` builds
    one for every relay its memo has not seen.
    """

    first_hop: bool
    rule: str
    text: str


def parse_pattern(pattern: str) -> RelayPattern:
    """``"host"``, ``"host:port"``, ``"ip:port"``, ``"[v6]:port"`` or a bare
    IPv6 address (more than one colon, no brackets: no port)."""
    text = pattern.strip().lower()
    if text.startswith("["):
        close = text.find("]")
        if close != -1:
            host = text[1:close]
            rest = text[close + 1 :]
            port = rest[1:] if rest.startswith(":") and len(rest) > 1 else None
            return RelayPattern(host, port)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return RelayPattern(host, port or None)
    return RelayPattern(text, None)


def _alternation(globs: list[str]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(f"(?:{translate(g)})" for g in globs))


_GLOB_CHARS = "*?["


class _HostGlobs:
    """A set of host globs, split for speed: names without wildcards go in a
    set (one hash lookup), the rest in one regex that is only run when the
    name starts with the literal text before some glob's first wildcard."""

    __slots__ = ("literals", "prefixes", "rx")

    def __init__(self, globs: list[str]) -> None:
        wild = [g for g in globs if any(c in g for c in _GLOB_CHARS)]
        self.literals = frozenset(g for g in globs if g not in wild)
        self.rx = _alternation(wild)
        self.prefixes = tuple(
            min((g.split(c, 1)[0] for c in _GLOB_CHARS), key=len) for g in wild
        )

    def match(self, h: str | None, a: str | None) -> bool:
        """Does the (lowercased) host name or bracketed address match?"""
        if h in self.literals or a in self.literals:
            return True
        rx = self.rx
        if rx is None:
            return False
        prefixes = self.prefixes
        return (h is not None and h.startswith(prefixes) and rx.match(h) is not None) or (
            a is not None and a.startswith(prefixes) and rx.match(a) is not None
        )


class RelayClassifier:
    """Answers "is this attempt a first hop?".

    The globs are compiled once into a few sets and regexes (one group for
    port-less patterns, one per literal port, a list for port globs), so a
    decision is a couple of set lookups, rarely a regex match; a bounded
    memo skips even that for the relays a log repeats.
    """

    __slots__ = ("_any_port", "_by_port", "_memo", "_port_globs", "_trace", "patterns", "texts")

    def __init__(self, patterns: tuple[str, ...] = DEFAULT_INTERNAL_RELAYS) -> None:
        kept = tuple(p.strip() for p in patterns if p.strip())
        self.patterns: tuple[RelayPattern, ...] = tuple(parse_pattern(p) for p in kept)
        self.texts: tuple[str, ...] = kept  # as configured, for explanations
        any_port: list[str] = []
        by_port: dict[int, list[str]] = {}
        port_globs: list[tuple[re.Pattern[str], re.Pattern[str]]] = []
        for p in self.patterns:
            if p.port is None:
                any_port.append(p.host)
            elif p.port.isdigit():
                by_port.setdefault(int(p.port), []).append(p.host)
            else:
                port_globs.append((re.compile(translate(p.host)), re.compile(translate(p.port))))
        self._any_port = _HostGlobs(any_port)
        self._by_port: dict[int, _HostGlobs] = {
            port: _HostGlobs(globs) for port, globs in by_port.items()
        }
        self._port_globs = tuple(port_globs)
        self._memo: dict[tuple[str | None, str | None, str | None, int | None], bool] = {}
        # Set by trace(): every decision is then also handed to this callback
        # (and the memo is bypassed so that repeats are reported too).
        self._trace: Callable[[tuple[str | None, str | None, str | None, int | None], FirstHopReason], None] | None = None

    def trace(
        self,
        callback: Callable[[tuple[str | None, str | None, str | None, int | None], FirstHopReason], None] | None,
    ) -> None:
        """Report every later decision, with its inputs and reason, to ``callback``
        (None stops it): how ``sendlog parse --explain-first-hop`` sees the
        very decisions the parser made rather than guessing them again."""
        self._trace = callback

    def is_first_hop(
        self,
        agent: str | None,
        host: str | None,
        addr: str | None,
        port: int | None,
    ) -> bool:
        """``addr`` is whatever sat in the brackets: an IP or a socket path."""
        key = (agent, host, addr, port)
        if self._trace is not None:
            return self.classify(agent, host, addr, port)
        known = self._memo.get(key)
        if known is not None:
            return known
        result = self.classify(agent, host, addr, port)
        if len(self._memo) >= _CACHE_LIMIT:
            self._memo.clear()
        self._memo[key] = result
        return result

    def classify(
        self,
        agent: str | None,
        host: str | None,
        addr: str | None,
        port: int | None,
    ) -> bool:
        """:meth:`is_first_hop` without the memo, for a caller that keeps
        its own (the Postfix parser memoises whole ``relay=`` values).

        The verdict comes from :meth:`rule`, as :meth:`explain`'s does, so
        the verdict and the reason an operator is shown can never disagree."""
        if self._trace is not None:
            reason = self.explain(agent, host, addr, port)
            self._trace((agent, host, addr, port), reason)
            return reason.first_hop
        return self.rule(agent, host, addr, port) in FIRST_HOP_RULES

    def explain(
        self,
        agent: str | None,
        host: str | None,
        addr: str | None,
        port: int | None,
    ) -> FirstHopReason:
        """:meth:`rule`'s answer with the reason in words, naming the agent
        or the configured pattern that decided."""
        rule = self.rule(agent, host, addr, port)
        if rule == AGENT:
            return FirstHopReason(False, rule, f"delivery agent {agent!r} never hands mail to another organisation")
        if rule == NO_RELAY:
            return _NO_RELAY
        if rule == INTERNAL_RELAY:
            return self._internal(host.lower() if host else None, addr.lower() if addr else None, port)
        return FirstHopReason(True, rule, f"relay {_relay_text(host, addr, port)} matches no internal pattern")

    def rule(
        self,
        agent: str | None,
        host: str | None,
        addr: str | None,
        port: int | None,
    ) -> str:
        """The one first-hop rule; which of its steps decided:

        1. ``agent``: a delivery agent that never speaks SMTP to another
           organisation (:data:`INTERNAL_AGENTS`) is not a first hop;
        2. ``no-relay``: an attempt with no relay at all (``relay=none``)
           was aimed outward, a first hop;
        3. ``internal-relay``: a relay matching a configured internal
           pattern (host or address, and port when the pattern names one)
           is not a first hop;
        4. ``external-relay``: any other relay is.

        A plain word rather than a reason object: this runs for every relay
        a memo has not seen, and real logs have many.
        """
        if agent is not None and agent.lower() in INTERNAL_AGENTS:
            return AGENT
        # Written out rather than with any()/generators: see above.
        h = host.lower() if host else None
        a = addr.lower() if addr else None
        if h is None and a is None:
            return NO_RELAY  # relay=none: the attempt was aimed outward
        if self._any_port.match(h, a):
            return INTERNAL_RELAY
        if port is None:
            return EXTERNAL_RELAY
        globs = self._by_port.get(port)
        if globs is not None and globs.match(h, a):
            return INTERNAL_RELAY
        if not self._port_globs:
            return EXTERNAL_RELAY
        sport = str(port)
        for host_rx, port_rx in self._port_globs:
            if port_rx.match(sport) and (
                (h is not None and host_rx.match(h)) or (a is not None and host_rx.match(a))
            ):
                return INTERNAL_RELAY
        return EXTERNAL_RELAY

    def _internal(self, h: str | None, a: str | None, port: int | None) -> FirstHopReason:
        """Name the configured pattern that matched (the slow path: internal
        relays are few, and the memo keeps the answer)."""
        sport = str(port) if port is not None else None
        for pattern, text in zip(self.patterns, self.texts):
            if pattern.port is not None and (sport is None or not fnmatchcase(sport, pattern.port)):
                continue
            if (h is not None and fnmatchcase(h, pattern.host)) or (a is not None and fnmatchcase(a, pattern.host)):
                return FirstHopReason(
                    False,
                    INTERNAL_RELAY,
                    f"relay {_relay_text(h, a, port)} matches internal pattern {text!r}",
                )
        return FirstHopReason(False, INTERNAL_RELAY, f"relay {_relay_text(h, a, port)} matches an internal pattern")


_NO_RELAY = FirstHopReason(True, NO_RELAY, "no relay host (relay=none): the attempt was aimed outward")


def _relay_text(host: str | None, addr: str | None, port: int | None) -> str:
    text = host or ""
    if addr and addr != host:
        text += f"[{addr}]"
    elif not text:
        text = "?"
    return f"{text}:{port}" if port is not None else text
