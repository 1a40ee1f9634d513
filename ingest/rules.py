"""The settings that decide what reconciliation records, passed to it by hand.

Three settings change what the ledger writes: the suppression policy, the
return-path HMAC key (without it a forged ``bounces+TOKEN@`` is taken at its
word) and the headers that tie a returned message to its send. Every
function that writes the ledger takes them as one required argument instead
of finding them on the session, so a session opened anywhere (a script, a
test, a web view) cannot quietly reconcile without the secret or under the
default policy: the caller has to say which rules it means.
"""

from __future__ import annotations

from dataclasses import dataclass

from bounceledger.models.suppression import SuppressionPolicy


@dataclass(frozen=True, slots=True)
class LedgerRules:
    suppression: SuppressionPolicy
    return_path_secret: str | None  # None: return-path tokens are plain VERP, not checked
    match_headers: tuple[str, ...] = ()
