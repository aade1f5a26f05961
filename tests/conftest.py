"""Fixtures: real peers on 127.0.0.1, started by the test and stopped by it."""
from __future__ import annotations

import concurrent.futures
import os
import time

import pytest

from tests.peers.kamailio import DEFAULT_USERS, Kamailio
from tests.phone import PhoneError, PhoneProcess

NAMES = {"1001": "Alice", "1002": "Bob", "1003": "Carol", "1004": "Dave"}


@pytest.fixture
def utc():
    """The local time zone is UTC for the test (the idle screen's clock, call times); a
    module that needs it for every test says `pytestmark = pytest.mark.usefixtures("utc")`."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    with Kamailio(tmp_path_factory.mktemp("kamailio")) as k:
        yield k


class Phones:
    """Start phones on demand; all of them are stopped (in parallel) at the end."""

    def __init__(self, tmp_path, kam: Kamailio | None):
        self.tmp_path = tmp_path
        self.kam = kam
        self.all: list[PhoneProcess] = []

    def start(self, user: str, *, server: bool = True, wait_registered: bool = True,
              account: dict | None = None, **kw) -> PhoneProcess:
        acct = {"user": user, "display_name": NAMES.get(user, user)}
        if server and self.kam is not None:
            acct.update(server=self.kam.addr, password=DEFAULT_USERS[user])
        acct.update(account or {})
        p = PhoneProcess(self.tmp_path / f"phone-{user}-{len(self.all)}", account=acct, **kw)
        self.all.append(p)
        p.start()
        if server and self.kam is not None and wait_registered:
            p.wait_registered(1)
        return p

    def close(self) -> None:
        with concurrent.futures.ThreadPoolExecutor(max(1, len(self.all))) as pool:
            stopped = [pool.submit(_stop, p) for p in self.all]
        if crashes := [c for p in self.all if (c := p.crashed())]:
            raise PhoneError("\n\n".join(crashes))     # before a stop's own trouble
        for f in stopped:
            f.result()


def _stop(p: PhoneProcess) -> None:
    try:
        p.stop()
    finally:
        p.kill()


@pytest.fixture
def phones(tmp_path, kamailio):
    ph = Phones(tmp_path, kamailio)
    yield ph
    ph.close()


@pytest.fixture
def p2p_phones(tmp_path):
    ph = Phones(tmp_path, None)
    yield ph
    ph.close()


@pytest.fixture(scope="module")
def module_phone(tmp_path_factory):
    """One phone (1001, no server) shared by a module's tests, for peers that call it
    directly (sipp): test_sip_behaviour, test_paging."""
    ph = Phones(tmp_path_factory.mktemp("phone"), None)
    try:
        yield ph.start("1001", server=False)
    finally:
        ph.close()
