"""The offline guard: no Python process the tests start may reach past this machine.

`python3 course.py test` puts this folder on PYTHONPATH and sets GPTEDU_OFFLINE=1. Every Python
process started with that environment (pytest, nbval's kernels, the browser test's JupyterLab
and its kernels, torchrun's agent and workers) then imports the sitecustomize.py next to this
file at start-up, which calls `install()`; tests/conftest.py calls it in pytest too. A learner's
own runs never set GPTEDU_OFFLINE, so they are untouched.

`install()` wraps the socket calls that can send a packet or a DNS query (connect, connect_ex,
sendto, sendmsg, create_connection, getaddrinfo and the gethostby*/getnameinfo look-ups):
loopback addresses, "localhost", this machine's own hostname and AF_UNIX paths pass through to
the real call, anything else raises `NetworkBlocked` before any system call is made. zmq (how
Jupyter talks to its kernels) and torch's TCPStore are C, not Python sockets, and use 127.0.0.1.

The wrappers call the real functions through `_real` at call time, so a test can swap those for
tripwires and check the guard's decisions without ever touching the network.
"""
from __future__ import annotations

import ipaddress
import os
import socket

ENV_VAR = "GPTEDU_OFFLINE"
MARK = "_gptedu_offline"  # set on every wrapper: `getattr(socket.socket.connect, MARK, False)`


class NetworkBlocked(RuntimeError):
    """A test tried to reach the network (or look up a non-local name)."""


_real: dict = {}  # name -> the original function, filled by install()


def is_local_host(host) -> bool:
    """Whether `host` names this machine without a DNS query: None/"" (any/local), localhost,
    a loopback or unspecified address, or this machine's own hostname."""
    if host is None:
        return True
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii", "replace")
    host = str(host).strip().lower()
    if host in ("", "localhost", socket.gethostname().lower()):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def check_host(host, what: str) -> None:
    if not is_local_host(host):
        raise NetworkBlocked(f"tests run offline ({ENV_VAR}=1): {what} {host!r} is not this machine")


def _inet_address_check(family, address, what: str) -> None:
    """Check an AF_INET/AF_INET6 address tuple; other families (AF_UNIX paths, netlink) stay local."""
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
        check_host(address[0], what)


# Where each socket method takes its address: connect(address), connect_ex(address),
# sendto(data, [flags,] address), sendmsg(buffers, ancdata, flags, address) (no address: connected).
_ADDRESS_OF = {
    "connect": lambda args: args[0] if args else None,
    "connect_ex": lambda args: args[0] if args else None,
    "sendto": lambda args: args[-1] if len(args) >= 2 else None,
    "sendmsg": lambda args: args[3] if len(args) >= 4 else None,
}

# Name look-ups and where their host is: a DNS query for anything but a local name.
_HOST_OF = {
    "getaddrinfo": lambda args, kwargs: args[0] if args else kwargs.get("host"),
    "gethostbyname": lambda args, kwargs: args[0] if args else None,
    "gethostbyname_ex": lambda args, kwargs: args[0] if args else None,
    "gethostbyaddr": lambda args, kwargs: args[0] if args else None,
    "getnameinfo": lambda args, kwargs: _getnameinfo_host(*args),
    "create_connection": lambda args, kwargs: (args[0] if args else kwargs.get("address", (None,)))[0],
}


def _getnameinfo_host(sockaddr=None, flags=0):
    """getnameinfo only queries DNS when asked for a name (no NI_NUMERICHOST)."""
    return None if flags & socket.NI_NUMERICHOST or not sockaddr else sockaddr[0]


def _guarded_method(name: str):
    address_of = _ADDRESS_OF[name]

    def method(self, *args):
        _inet_address_check(self.family, address_of(args), f"socket.{name} to")
        return _real[name](self, *args)

    method.__name__ = method.__qualname__ = name
    setattr(method, MARK, True)
    return method


def _guarded_function(name: str):
    host_of = _HOST_OF[name]

    def function(*args, **kwargs):
        check_host(host_of(args, kwargs), f"socket.{name} of")
        return _real[name](*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    setattr(function, MARK, True)
    return function


def installed() -> bool:
    return bool(getattr(socket.socket.connect, MARK, False))


def install() -> None:
    """Wrap the socket module's network calls in this process (once; a second call does nothing)."""
    if installed():
        return
    for name in _ADDRESS_OF:
        _real[name] = getattr(socket.socket, name)
        setattr(socket.socket, name, _guarded_method(name))
    for name in _HOST_OF:
        _real[name] = getattr(socket, name)
        setattr(socket, name, _guarded_function(name))


def requested(environ=os.environ) -> bool:
    return environ.get(ENV_VAR, "") not in ("", "0")
