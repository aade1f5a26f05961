"""Where the web page listens, and the addresses a person types to reach it.

web.listen "auto" (the factory value) is the board's choice:
- a phone (any board that is not simulated): every IPv4 address, on web.port (80, the
  manual's HTTP Port), so the office reaches it at http://PHONE-IP/ as the manual's status
  page says. Port 80 needs CAP_NET_BIND_SERVICE: docs/deskphone.service grants it (and
  nothing else; the phone runs as its own user);
- the sim board (a PC): 127.0.0.1:8080, the PC's loopback: a program on a developer's PC
  must not offer a phone's controls to the network it is on, and port 80 needs root.
An address:port is used as it is; empty turns the web page off; --http overrides all.
"""
from __future__ import annotations

SIM_DEFAULT = "127.0.0.1:8080"
EVERY_ADDRESS = "0.0.0.0"


def resolve(listen: str, port: int, *, simulated: bool) -> str:
    """The address:port to listen on ('' = off) for the setting web.listen and web.port."""
    if listen != "auto":
        return listen
    return SIM_DEFAULT if simulated else f"{EVERY_ADDRESS}:{port}"


def urls(listen: str, addresses=None) -> list[str]:
    """The page's addresses as a person types them: every address of the phone when it
    listens on all of them (`addresses`: (interface, ip) pairs, default: the phone's),
    the port left out when it is 80."""
    if not listen:
        return []
    host, _, port = listen.rpartition(":")
    if host in (EVERY_ADDRESS, "[::]", "::"):
        if addresses is None:
            from firmware.system import netinfo
            addresses = netinfo.addresses()
        hosts = [ip for name, ip in addresses if name != "lo"] or ["127.0.0.1"]
    else:
        hosts = [host]
    tail = "" if port == "80" else f":{port}"
    return [f"http://{h}{tail}/" for h in hosts]
