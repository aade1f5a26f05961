"""firmware/system/netinfo.py: what View status > Network reads from the OS."""
from __future__ import annotations

from firmware.system import netinfo

ROUTES = """Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	0002000A	00000000	0001	0	0	0	00FFFFFF	0	0	0
eth0	00000000	0102000A	0003	0	0	100	00000000	0	0	0
"""


def test_the_default_route_gives_the_interface_and_gateway():
    assert netinfo.default_route(ROUTES) == ("eth0", "10.0.2.1")
    assert netinfo.default_route(ROUTES.splitlines()[0] + "\n") is None
    assert netinfo.default_route("garbage\neth0 00000000 zz\n") is None


def test_dns_servers_in_order_at_most_three():
    text = "# comment\nsearch lan\nnameserver 10.0.0.53\nnameserver ::1\n" \
           "nameserver 1.1.1.1\nnameserver 8.8.8.8\noptions edns0\n"
    assert netinfo.dns_servers(text) == ["10.0.0.53", "::1", "1.1.1.1"]
    assert netinfo.dns_servers("") == []


def test_this_machine_answers_without_errors():
    """On any Linux box: the loopback has its address, and the readers never raise."""
    assert ("lo", "127.0.0.1") in netinfo.addresses()
    netinfo.default_route()
    netinfo.dns_servers()
    assert netinfo.address_source("eth0") in ("DHCP", "static")
