"""The version of every JSON shape bounceledger writes, and the one function that stamps it.

Other programs read ``--json`` output and the HTTP API. Within a version,
keys are only ever added; a change that renames or drops one is a new
version, so a consumer can check ``schema`` and refuse what it does not know
instead of misreading it. Every JSON face goes through :func:`versioned`
(the CLI's ``_print_json``, the web app's JSON provider, the ``run``
listener's ``/readyz``), so the number lives here and nowhere else.
"""

from __future__ import annotations

from typing import Any

#: The version of the JSON shapes; bump it only for a change that is not an addition.
SCHEMA_VERSION = 1
#: The key it is written under.
SCHEMA_KEY = "schema"


def versioned(data: Any) -> Any:
    """``data`` with ``"schema": SCHEMA_VERSION`` as its first key.

    An object gets the key; a list (``suppressions --json`` prints a bare
    array, and turning it into an object would break its readers) gets it in
    each of its object elements instead. Anything else is returned as is.
    """
    if isinstance(data, dict):
        return {SCHEMA_KEY: SCHEMA_VERSION, **{k: v for k, v in data.items() if k != SCHEMA_KEY}}
    if isinstance(data, list):
        return [versioned(item) if isinstance(item, dict) else item for item in data]
    return data
