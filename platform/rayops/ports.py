"""Local TCP ports: whether one is free, and a free one (private Ray heads, HAProxy).

Example:
    >>> port_free(free_port())
    True
"""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_free"]


def port_free(port: int) -> bool:
    """Whether nothing listens on ``port`` of any local interface."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on now (the OS picks it on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
