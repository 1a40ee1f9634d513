"""The read-only web dashboard (Flask + waitress): overview, recipients, reasons, suppressions."""

from bounceledger.web.app import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    ServeError,
    create_app,
    make_server,
    serve,
    shutdown,
)

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "TOKEN_ENV", "ServeError", "create_app", "make_server", "serve", "shutdown"]
