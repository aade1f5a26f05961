"""pytest fixtures for real SIP peers; import them into a test module or conftest:

    from tests.peers.fixtures import peers, kamailio   # noqa: F401  (pytest finds them)

`peers` starts whatever a test asks for in its tmp_path and stops all of it at teardown,
newest first, even when the test failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from .baresip import Baresip
from .kamailio import Kamailio
from .sipp import Sipp


class PeerSet:
    """Factory for peers that all live in one test's directory and die with the test."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._started: list = []
        self._names: dict[str, int] = {}

    def _dir(self, kind: str) -> Path:
        n = self._names[kind] = self._names.get(kind, 0) + 1
        return self.root / f"{kind}{n}"

    def kamailio(self, **kw) -> Kamailio:
        """Started Kamailio (kwargs as Kamailio())."""
        k = Kamailio(self._dir("kamailio"), **kw)
        self._started.append(k)
        return k.start()

    def baresip(self, **kw) -> Baresip:
        """Started baresip (kwargs as Baresip()); call wait_registered() if it registers."""
        b = Baresip(self._dir("baresip"), **kw)
        self._started.append(b)
        return b.start()

    def sipp(self, **kw) -> Sipp:
        """A Sipp, not started: use .run() for a caller, .start() for a callee."""
        s = Sipp(self.root / "sipp", **kw)
        self._started.append(s)
        return s

    def stop_all(self) -> None:
        errors = []
        for peer in reversed(self._started):
            try:
                (peer.close if isinstance(peer, Kamailio) else peer.stop)()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{type(peer).__name__}: {exc}")
        self._started.clear()
        if errors:
            raise RuntimeError("stopping peers failed: " + "; ".join(errors))


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[PeerSet]:
    ps = PeerSet(tmp_path)
    try:
        yield ps
    finally:
        ps.stop_all()


@pytest.fixture
def kamailio(peers: PeerSet) -> Kamailio:
    """A started Kamailio with the default users (1001..1004 / secret1001..)."""
    return peers.kamailio()


# ----- provisioning servers (servers.py), one per test -----
# Measured start+stop: tftpd 0.035 s, nginx 0.05 s, vsftpd 0.1 s (with useradd/userdel), so
# function scope: every test gets fresh logs and files.

from .servers import Nginx, Tftpd, Vsftpd  # noqa: E402


@pytest.fixture
def tftpd(tmp_path: Path) -> Iterator[Tftpd]:
    """in.tftpd (tftpd-hpa) on 127.0.0.1; .put(name, data), .put_sparse(name, size),
    .url(path)."""
    with Tftpd(tmp_path / "tftpd") as server:
        yield server


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """nginx with http and https (.cert is the CA file), /private/ Basic auth (.user,
    .password), /deny/, /slow/, /chunked/, /redir/, /loop/; .requests() is the access log."""
    with Nginx(tmp_path / "nginx") as server:
        yield server


@pytest.fixture
def ftpd(tmp_path: Path) -> Iterator[Vsftpd]:
    """vsftpd: anonymous, and a local user .user/.password made for this run only."""
    with Vsftpd(tmp_path / "vsftpd") as server:
        yield server
