"""Free loopback TCP ports, picked together so one stack never clashes with itself."""
from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from pathlib import Path


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return `count` distinct ports that were free a moment ago.

    All sockets are held open until every port is chosen, so the kernel cannot
    hand out the same port twice; the (small) race with other processes after
    the sockets close is accepted.
    """
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def port_listening(port: int, host: str = "127.0.0.1") -> bool:
    """True if a socket is in LISTEN state on host:port, read from /proc/net/tcp.

    Probing by connecting would leave "lost connection after CONNECT" lines in
    Postfix's log, and that log is the artefact under test, so we look instead.
    """
    wanted_ip = "".join(f"{int(part):02X}" for part in reversed(host.split(".")))
    wanted = {f"{wanted_ip}:{port:04X}", f"00000000:{port:04X}"}
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(cols[1] in wanted and cols[3] == "0A" for cols in (row.split() for row in rows))


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> bool:
    """Poll until something listens on host:port (daemons fork and return before binding)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_listening(port, host):
            return True
        time.sleep(0.05)
    return False
