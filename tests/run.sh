#!/usr/bin/env bash
# Quick start, command 2: install everything the tests need, then run the whole suite.
#
#   bash tests/run.sh [pytest options]
#
# As root it installs Debian's Postfix and Dovecot (the real-mail-stack tests
# start their own instances on loopback) and starts the local PostgreSQL if it
# is down. Then it makes ./.venv, installs bounceledger with its test extra, and
# runs pytest; the exit code is pytest's, so a failing test fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! bash tests/install-system-deps.sh; then
    echo "run.sh: Postfix/Dovecot missing: real-mail-stack tests will be skipped (outside CI)" >&2
fi
if ! bash tests/install-browser.sh; then
    echo "run.sh: Chromium missing: browser tests will be skipped (outside CI)" >&2
fi

postgres_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -h 127.0.0.1 -p 5432 -q
    else
        (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
    fi
}
if ! postgres_up && [ "$(id -u)" -eq 0 ] && [ -d /etc/postgresql ]; then
    echo "run.sh: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
fi
postgres_up || echo "run.sh: PostgreSQL is not reachable on 127.0.0.1:5432" >&2

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

exec .venv/bin/python -m pytest "$@"
