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

from tests.peers._process import process_group, reaped, spawn
from tests.peers.ports import free_port, free_port_block, listeners

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


# the signals a process dies of when it crashes
CRASHES = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}


class PortClash(PhoneError):
    """Our phone lost a port free_port() picked for it to another process."""

    def __init__(self, port: str, why: str):
        super().__init__(why)
        self.port = port            # "http" or "sip"


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
        self._picked = {"sip": self.sip_port, "http": self.http_port}
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
        self._log_from = 0

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
        """Run the phone; with `wait`, until its web API answers. A port of ours that another
        test run's process took between free_port() and the phone's bind (PortClash) is
        picked again and the phone started again, twice at most."""
        for attempt in range(3):
            if write:
                self.write_settings()
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_up()
                return self
            except PortClash as clash:
                if not self._may_pick_again(clash.port, write):
                    return self             # a port the test chose: its own business
                self.kill()
                if self.proc.stdout:
                    self.proc.stdout.close()
                if attempt == 2:
                    raise
                self._pick_again(clash.port)
        return self

    def _spawn(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", TZ="UTC", **self.env)
        try:
            self._log_from = self._log.stat().st_size
        except OSError:
            self._log_from = 0
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

    def _may_pick_again(self, port: str, write: bool) -> bool:
        """The port that clashed is one free_port() picked (not one a test chose on purpose)
        and the phone can be told a new one (the SIP port is in the settings we write)."""
        if port == "http":
            return self.http_port == self._picked["http"]
        return write and self.sip_port == self._picked["sip"]

    def _pick_again(self, port: str) -> None:
        if port == "http":
            self.http_port = self._picked["http"] = free_port("tcp")
        else:
            self.sip_port = self._picked["sip"] = free_port("udp")
            self.settings_doc["sip"]["port"] = self.sip_port

    def wait_up(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PhoneError(f"phone exited with {self.proc.returncode}:\n{self.output()}")
            try:
                code, body = self.status("GET", "/api/state")
            except OSError:
                code, body = 0, {}
            body = body if isinstance(body, dict) else {}
            # a factory phone answers, but only to have its password changed
            if code == 200 or (code == 403 and "factory" in str(body.get("error", ""))):
                self._check_ports(body)
                return
            if f"not started: {self.host}:{self.http_port}:" in self._new_log():
                raise PortClash("http", f"web port {self.http_port} is another program's")
            time.sleep(0.05)
        raise PhoneError(f"phone did not come up in {timeout} s\n{self.log_tail()}")

    def _check_ports(self, state: dict) -> None:
        """PortClash if what answered on our web port is another process (another test's
        phone: they all share TEST_PASSWORD) or our phone says its SIP port is taken. Both
        happen when another xdist worker picks the same free port in the second before our
        phone binds it: the test then drove a stranger's phone until it went away."""
        pid = state.get("pid")
        if not (self._ours(pid) if isinstance(pid, int) else self._listens_on_web_port()):
            raise PortClash("http", f"web port {self.http_port} is answered by "
                                    f"{f'pid {pid}' if pid else 'another process'}, not "
                                    f"this phone (pid {self.proc.pid})")
        for error in state.get("errors") or ():
            if f"SIP port {self.sip_port} " in error and "in use" in error:
                raise PortClash("sip", error)

    def _listens_on_web_port(self) -> bool:
        """Our phone (or a process it started) holds the web port: for an answer without
        a pid (a factory phone's 403)."""
        want = ("tcp", self.host, self.http_port)
        return any(want in listeners(p) for p in process_group(self.proc.pid))

    def crashed(self) -> str:
        """What a phone that died of a crash (SIGSEGV, SIGABRT...) left, else "". Tests
        stop phones with TERM or KILL; whatever a test asserted, a crash is a bug."""
        code = self.proc.returncode if self.proc else None
        if code is None or -code not in CRASHES:
            return ""
        return f"{self.data_dir.name} crashed ({signal.Signals(-code).name}): {self.gone()}"

    def _ours(self, pid: int) -> bool:
        """`pid` is our phone or a process it started (firmware.boot runs it as a child)."""
        try:
            return pid == self.proc.pid or os.getpgid(pid) == self.proc.pid
        except OSError:
            return False

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
        if exc[0] is None and (crash := self.crashed()):
            raise PhoneError(crash)

    def output(self) -> str:
        if self.proc and self.proc.stdout and self.proc.poll() is not None:
            return self.proc.stdout.read().decode(errors="replace")[-4000:]
        return ""

    @property
    def _log(self) -> Path:
        return self.data_dir / "logs" / "phone.log"

    def _new_log(self) -> str:
        """What the phone logged since it was last started."""
        try:
            with open(self._log, "rb") as f:
                f.seek(self._log_from)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self._log.read_text().splitlines()
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
        except urllib.error.URLError as e:
            raise PhoneError(f"{method} {path}: {e.reason}\n{self.gone()}") from None
        except TimeoutError:          # the reply's read (a connect timeout is a URLError)
            raise PhoneError(f"{method} {path}: no answer in {timeout:g} s\n{self.gone()}") \
                from None

    def gone(self) -> str:
        """What is known of a phone that does not answer: its exit and last words, or that
        it still runs, with its log tail."""
        if self.proc is None:
            return "(never started)"
        if self.proc.poll() is None:
            return f"the process still runs (pid {self.proc.pid}); log:\n{self.log_tail()}"
        return (f"the process exited with {self.proc.returncode}; output:\n{self.output()}\n"
                f"log:\n{self.log_tail()}")

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
        return self.request("GET", "/api/state")

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
