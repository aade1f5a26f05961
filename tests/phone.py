"""Our phone as a test peer: a real `python -m firmware` process, driven through its API.

    with PhoneProcess(tmp_path / "a", account={"user": "1001", ...}) as a:
        a.key("5"); a.hook(True)
        a.wait(lambda s: s["screen"] == "talking")
        assert "Talking" in a.screen()

Every wait is bounded and fails with the phone's log tail.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any, Callable

import functools

import tomli_w

from tests.peers._process import reaped, spawn
from tests.peers.ports import free_port, free_port_block

ROOT = Path(__file__).resolve().parent.parent
# The web password of every test phone unless a test asks for the factory state (factory=
# True: password 'root', everything but POST /api/password refused until it is changed).
TEST_PASSWORD = "test-Pass-4071"


@functools.lru_cache(maxsize=8)
def password_hash(password: str) -> str:
    """One PBKDF2 per password per test run, not one per phone started."""
    from firmware.settings import hash_password
    return hash_password(password)


class PhoneError(AssertionError):
    pass


class PhoneProcess:
    def __init__(self, data_dir: Path, *, account: dict | None = None,
                 accounts: dict[int, dict] | None = None, settings: dict | None = None,
                 user: str = "root", password: str | None = None, factory: bool = False,
                 extra_args: list[str] = (),
                 host: str = "127.0.0.1", prefix: list[str] = (),
                 env: dict[str, str] | None = None, module: str = "firmware",
                 module_args: list[str] = ()):
        """host: the address SIP and the API listen on; prefix: a command the phone runs
        under (e.g. `ip netns exec NAME`); env: extra environment variables; module and
        module_args: what runs it (firmware.boot with its own options runs it supervised);
        factory: keep the factory web password (root) instead of `password` (TEST_PASSWORD)."""
        self.data_dir = Path(data_dir)
        self.host = host
        self.prefix = list(prefix)
        self.sip_port = free_port("udp")
        self.http_port = free_port("tcp")
        self.rtp_port = free_port_block(8)[0]
        self.factory = factory
        self.password = password or ("root" if factory else TEST_PASSWORD)
        self.auth = "Basic " + b64encode(f"{user}:{self.password}".encode()).decode()
        doc: dict[str, Any] = {"sip": {"port": self.sip_port, "bind": host,
                                       "rtp_port": self.rtp_port, "rtp_ports": 16,
                                       "failover_timeout": 3, "retry_interval": 2},
                               # hermetic: never a provisioning server from this machine's
                               # own DHCP lease
                               "provisioning": {"dhcp_option66": False}}
        accs = dict(accounts or {})
        if account is not None:
            accs[1] = account
        if accs:
            doc["account"] = {str(i): {"enable": True, **a} for i, a in accs.items()}
        if not factory:
            doc["web"] = {"password_hash": password_hash(self.password)}
        for key, value in (settings or {}).items():
            node = doc
            *parts, last = key.split(".")
            for p in parts:
                node = node.setdefault(p, {})
            node[last] = value
        self.settings_doc = doc
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.module, self.module_args = module, list(module_args)
        self.out: Path | None = None        # a file for the output instead of a pipe
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.sip_port}"

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def uri(self, user: str = "") -> str:
        return f"sip:{user + '@' if user else ''}{self.host}:{self.sip_port}"

    # -- life cycle ------------------------------------------------------------------

    def write_settings(self) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.data_dir / "settings.toml"
        path.write_text(tomli_w.dumps(self.settings_doc))
        path.chmod(0o600)              # as the phone keeps it (it warns about wider modes)

    def start(self, *, write: bool = True, wait: bool = True) -> PhoneProcess:
        if write:
            self.write_settings()
        env = dict(os.environ, PYTHONUNBUFFERED="1", TZ="UTC", **self.env)
        self.started_at = time.monotonic()
        out = open(self.out, "ab") if self.out else subprocess.PIPE
        try:
            # its own session, and it dies with the test run (tests/peers/_process.py)
            self.proc = spawn(
                [*self.prefix, sys.executable, "-m", self.module, *self.module_args,
                 "--board", "sim", "--data-dir", str(self.data_dir),
                 "--http", f"{self.host}:{self.http_port}", "--quiet", *self.extra_args],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        finally:
            if self.out:
                out.close()
        if wait:
            self.wait_up()
        return self

    def wait_up(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PhoneError(f"phone exited with {self.proc.returncode}:\n{self.output()}")
            try:
                code, body = self.status("GET", "/api/state")
            except OSError:
                code, body = 0, {}
            # a factory phone answers, but only to have its password changed
            if code == 200 or (code == 403 and "factory" in body.get("error", "")):
                return
            time.sleep(0.05)
        raise PhoneError(f"phone did not come up in {timeout} s\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            raise PhoneError(f"phone did not stop in {timeout} s\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        if self.proc:
            reaped(self.proc)

    def __enter__(self) -> PhoneProcess:
        if self.proc is None or self.proc.poll() is not None:   # `with p.start():` too
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self.kill()

    def output(self) -> str:
        if self.proc and self.proc.stdout and self.proc.poll() is not None:
            return self.proc.stdout.read().decode(errors="replace")[-4000:]
        return ""

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = (self.data_dir / "logs" / "phone.log").read_text().splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    # -- API -------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, raw: bool = False,
                auth: str | None = None, timeout: float = 10.0):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", auth if auth is not None else self.auth)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                payload = resp.read()
                return payload if raw else json.loads(payload or b"null")
        except urllib.error.HTTPError as e:
            payload = e.read()
            raise PhoneError(f"{method} {path} -> {e.code}: {payload[:500]!r}") from None

    def status(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
               auth: str | None = None) -> tuple[int, dict]:
        """(HTTP status, JSON body) without raising, for tests of bad input."""
        raw = data if data is not None else (json.dumps(body).encode()
                                             if body is not None else None)
        req = urllib.request.Request(self.base + path, data=raw, method=method)
        req.add_header("Authorization", auth if auth is not None else self.auth)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                return e.code, json.loads(payload)
            except ValueError:
                return e.code, {"raw": payload.decode(errors="replace")}

    def key(self, *keys: str) -> None:
        for k in keys:
            self.request("POST", "/api/keys", {"key": k})

    def keys(self, digits: str) -> None:
        self.key(*digits)

    def hook(self, offhook: bool) -> None:
        self.request("POST", "/api/hook", {"offhook": offhook})

    def dial(self, number: str, line: int = 0) -> None:
        self.request("POST", "/api/dial", {"number": number, "line": line})

    def state(self) -> dict:
        return self.request("GET", "/api/state", timeout=3)

    def leds(self) -> dict:
        return self.request("GET", "/api/leds")

    def screen(self) -> str:
        return self.request("GET", "/api/screen.txt", raw=True).decode()

    def screen_png(self) -> bytes:
        return self.request("GET", "/api/screen.png", raw=True)

    def settings(self, values: dict) -> dict:
        return self.request("PATCH", "/api/settings", values)

    def mic(self, freq: int | None) -> None:
        self.request("POST", "/api/sim/mic", {"tone": freq})

    def listen(self, seconds: float = 1.0) -> bytes:
        return self.request("GET", f"/api/sim/listen?seconds={seconds}", raw=True, timeout=20)

    # -- waiting -----------------------------------------------------------------------------

    def wait(self, pred: Callable[[dict], bool], timeout: float = 10.0, what: str = "") -> dict:
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            last = self.state()
            if pred(last):
                return last
            time.sleep(0.03)
        raise PhoneError(f"timed out after {timeout} s waiting for {what or pred}\n"
                         f"state: {json.dumps(last, indent=1)[:3000]}\n"
                         f"screen:\n{self.screen()}\nlog:\n{self.log_tail()}")

    def wait_screen(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.03)
        raise PhoneError(f"screen never showed {text!r} in {timeout} s; it shows:\n{shown}\n"
                         f"log:\n{self.log_tail()}")

    def wait_registered(self, index: int = 1, timeout: float = 10.0) -> dict:
        return self.wait(lambda s: s["accounts"][index - 1]["status"] in ("registered", "dnd"),
                         timeout, f"account {index} registered")

    def call_state(self, s: dict | None = None) -> str | None:
        s = s or self.state()
        return s["calls"][0]["state"] if s["calls"] else None
