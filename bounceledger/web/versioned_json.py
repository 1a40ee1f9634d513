"""The web app's JSON provider: every JSON response carries ``"schema"``.

Flask builds every JSON response (``jsonify``, a view returning a dict, the
error handlers, the write API, ``/readyz``) through ``app.json.response``,
so stamping the version there covers routes added later without each one
remembering to. Only responses are stamped; ``tojson`` in templates is not.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.json.provider import DefaultJSONProvider

from bounceledger.schema_version import versioned


class VersionedJSONProvider(DefaultJSONProvider):
    """Flask's default provider, key order kept, with the schema version added to each response."""

    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> Response:
        return super().response(versioned(self._prepare_response_obj(args, kwargs)))
