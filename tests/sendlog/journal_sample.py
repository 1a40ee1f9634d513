"""A real systemd journal export of a real Postfix log, for the journal reader's tests.

    python -m tests.sendlog.journal_sample LOG OUT

Sends every line of ``LOG`` (a syslog-format log, such as
fixtures/postfix_out_real.log, written by a real Postfix) to a running
``systemd-journald`` through its syslog socket, as Postfix's own syslog(3)
calls would (``<PRI>stamp prog[pid]: message``), then writes what
``journalctl -o json`` gives back for them to ``OUT``. journald, not this
script, makes the records: its own fields, its own time of reception. Run
as root on a host where journald runs (``/lib/systemd/systemd-journald``
can be started by hand in a container).
"""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

SOCKET = "/run/systemd/journal/dev-log"
#: mail.info, as Postfix logs its deliveries (syslog facility "mail", RFC 5424 section 6.2.1).
PRIORITY = 2 * 8 + 6
_HEADER = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) (\S+?)(\[\d+\])?: (.*)$")


def main(log: Path, out: Path) -> None:
    marker = f"bl-journal-{uuid.uuid4().hex[:8]}"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 1))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for line in log.read_text().splitlines():
            m = _HEADER.match(line)
            if m is None:
                continue
            stamp, _host, prog, pid, message = m.groups()
            sock.sendto(f"<{PRIORITY}>{stamp} {prog}{pid or ''}: {message}".encode(), SOCKET)
        # an end marker, so the export below stops at our records
        sock.sendto(f"<{PRIORITY}>{time.strftime('%b %d %H:%M:%S')} {marker}: end".encode(), SOCKET)
    time.sleep(1)
    exported = subprocess.run(["journalctl", "-o", "json", "--since", since, "--no-pager"],
                              check=True, capture_output=True, text=True).stdout.splitlines()
    kept = [line for line in exported if marker not in line and '"SYSLOG_IDENTIFIER"' in line]
    out.write_text("\n".join(kept) + "\n")
    print(f"{len(kept)} records written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
