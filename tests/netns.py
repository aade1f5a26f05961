"""A network namespace joined to ours by a veth pair, with no route beyond it.

A phone inside reaches the host at `host_ip` and nothing else: "no network" for any
other server, while the test still talks to its API at `ns_ip`. Needs root (CI runs as
root); removed again on exit.
"""
from __future__ import annotations

import os
import random
import subprocess


class NetNs:
    def __init__(self) -> None:
        n = random.randrange(1, 250)
        tag = f"{os.getpid() % 10000}{random.randrange(100):02d}"
        self.name = f"dp{tag}"
        self.veth_host, self.veth_ns = f"dph{tag}", f"dpn{tag}"
        self.host_ip, self.ns_ip = f"10.213.{n}.1", f"10.213.{n}.2"

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    def __enter__(self) -> NetNs:
        self._ip("netns", "add", self.name)
        try:
            self._ip("link", "add", self.veth_host, "type", "veth", "peer", "name",
                     self.veth_ns, "netns", self.name)
            self._ip("addr", "add", f"{self.host_ip}/30", "dev", self.veth_host)
            self._ip("link", "set", self.veth_host, "up")
            self._ip("-n", self.name, "addr", "add", f"{self.ns_ip}/30", "dev", self.veth_ns)
            self._ip("-n", self.name, "link", "set", self.veth_ns, "up")
            self._ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self.veth_host], capture_output=True, timeout=10)

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]
