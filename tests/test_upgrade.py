"""A firmware upgrade cannot brick the phone.

Images are built from this tree and signed with a key made for the test (never a release
key); the supervisor (`python -m firmware.boot`) runs the real firmware, or, where a firmware
must crash or hang, an image whose `firmware/__main__.py` does that.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from firmware.boot import BOOT_VERSION, RESTART_EXIT
from firmware.system.identity import MODEL, VENDOR, VERSION
from provisioning.errors import ImageError
from provisioning.image import _tree_files as image_tree_files
from provisioning.image import (PAYLOAD_TREE, Manifest, build_image, compare_versions,
                                image_name, key_id, keygen, load_private_key, load_public_key,
                                parse_version_file, read_manifest, verify_image)
from provisioning.slots import Slots, apply_upgrade, check_requirements, report_healthy
from tests import helpers
from tests.peers._process import spawn
from tests.phone import PhoneError, PhoneProcess

ROOT = Path(__file__).resolve().parent.parent


def bump(version: str, by: int = 1) -> str:
    main, sep, build = version.partition("-")
    parts = main.split(".")
    parts[-1] = str(int(parts[-1]) + by)
    return ".".join(parts) + sep + build


NEXT = bump(VERSION)


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def wait_for(pred, what: str, timeout: float = 20.0, detail=lambda: ""):
    """tests.helpers.wait_for, 20 s by default: a phone restarting on new firmware."""
    return helpers.wait_for(pred, what, timeout, detail=detail)


# --- trees, keys and images -----------------------------------------------------------------

FAKE_MAIN = '''"""TEST ONLY: stands in for the firmware's entry point (tests/test_upgrade.py)."""
import os, signal, sys
from pathlib import Path

here = Path(__file__).resolve().parent
version = (here / "VERSION").read_text().strip()
mode = (here / "FAKE_MODE").read_text().strip()
data = Path(sys.argv[sys.argv.index("--data-dir") + 1])
data.mkdir(parents=True, exist_ok=True)
with open(data / "runs.log", "a") as f:
    f.write(f"{version} {mode} {os.environ.get('DESKPHONE_SLOT')}\\n")
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
if mode == "crash":
    sys.exit(1)
if mode == "badargs":
    sys.exit(2)
if mode == "upgrade":          # the engine's part: apply, then ask for a restart
    from provisioning.slots import apply_upgrade
    apply_upgrade(os.environ["FAKE_IMAGE"], health_seconds=30)
    sys.exit(75)
if mode == "healthy":
    from provisioning.slots import report_healthy
    report_healthy()
while True:                    # "hang": runs, never reports healthy
    signal.pause()
'''

HEALTH_CALL = ("        from provisioning.slots import report_healthy\n"
               "        report_healthy(self.data_dir)\n")


def copy_tree(dst: Path, *, fake: str | None = None) -> Path:
    """This tree's firmware, as an image payload would hold it. fake: replace the entry
    point by FAKE_MAIN in that mode. Otherwise the real firmware, which reports healthy
    once up (the call the lead wires into App.run is added here if it is not there yet)."""
    for top in PAYLOAD_TREE:
        src = ROOT / top
        if src.is_dir():
            shutil.copytree(src, dst / top, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, dst / top)
    if fake:
        (dst / "firmware/__main__.py").write_text(FAKE_MAIN)
        (dst / "firmware/FAKE_MODE").write_text(fake + "\n")
        return dst
    app = dst / "firmware/app.py"
    text = app.read_text()
    if "report_healthy" not in text:
        anchor = '        log.info("phone ready")\n'
        assert anchor in text, "firmware/app.py changed: update copy_tree's health call"
        app.write_text(text.replace(anchor, anchor + HEALTH_CALL))
    return dst


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A trusted test key (its .pub alone in a 0700 dir, as $DESKPHONE_TRUSTED_KEYS) and
    one the phone does not trust."""
    d = tmp_path_factory.mktemp("keys")
    (d / "trusted").mkdir(mode=0o700)
    (d / "other").mkdir(mode=0o700)
    keygen(d / "trusted/test.key")
    keygen(d / "other/other.key")
    shutil.move(d / "trusted/test.key", d / "test.key")
    return {"dir": d / "trusted", "key": d / "test.key", "pub": d / "trusted/test.pub",
            "other": d / "other/other.key",
            "trusted": [load_public_key(d / "trusted/test.pub")]}


@pytest.fixture(scope="module")
def images(tmp_path_factory, keys):
    """name -> image path: 'good' (this tree, NEXT), 'real' (the real firmware reporting
    healthy, NEXT), 'crash', 'hang', 'healthy' (fake entry points, NEXT)."""
    d = tmp_path_factory.mktemp("images")
    (d / "good").mkdir()
    out = {"good": build_image(ROOT, d / "good", version=NEXT, signing_key=keys["key"])}
    for name, fake in (("real", None), ("crash", "crash"), ("hang", "hang"),
                       ("healthy", "healthy")):
        src = copy_tree(d / f"src-{name}", fake=fake)
        (d / name).mkdir()
        out[name] = build_image(src, d / name, version=NEXT, signing_key=keys["key"])
    return out


def outer(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers()}


def pack(path: Path, parts: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in parts.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return path


def craft(path: Path, key: Path, members: list[tuple[tarfile.TarInfo, bytes]], *,
          unpacked: int | None = None) -> Path:
    """A correctly signed image around a hand-made payload."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as t:
        for ti, data in members:
            ti.size = len(data) if ti.isreg() else 0
            t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    payload = buf.getvalue()
    priv = load_private_key(key)
    m = Manifest(version=NEXT, model=MODEL, vendor=VENDOR, built="2025-01-01T00:00:00Z",
                 payload_sha256=hashlib.sha256(payload).hexdigest(), payload_size=len(payload),
                 unpacked_size=sum(len(d) for ti, d in members if ti.isreg())
                 if unpacked is None else unpacked,
                 files=len(members), min_boot=1,
                 requirements_sha256=hashlib.sha256(b"").hexdigest(),
                 key_id=key_id(priv.public_key()))
    raw = m.to_json()
    return pack(path, {"manifest.json": raw, "manifest.sig": priv.sign(raw),
                       "payload.tar.gz": payload})


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = kind, link, 0o644
    return ti


BASIC = [(member("firmware/__main__.py"), b"print('hi')\n"),
         (member("firmware/VERSION"), NEXT.encode() + b"\n")]


# --- images ----------------------------------------------------------------------------------

def test_an_image_built_from_this_tree_verifies(images, keys):
    m = verify_image(images["good"], trusted_keys=keys["trusted"], md5=md5_of(images["good"]))
    assert images["good"].name == image_name(NEXT) == f"S2_DP330_version{NEXT}"
    assert (m.vendor, m.model, m.version, m.key_id) == (VENDOR, MODEL, NEXT,
                                                        key_id(keys["trusted"][0]))
    assert read_manifest(images["good"]).payload_sha256 == m.payload_sha256
    assert check_requirements(m.requirements) == []


def _bad_images(d: Path, good: Path, keys) -> dict[str, tuple[Path, dict, str]]:
    """case -> (image, extra verify args, the reason expected in the error)."""
    parts = outer(good)
    data = good.read_bytes()
    with tarfile.open(good) as t:
        off = t.getmember("payload.tar.gz").offset_data + t.getmember("payload.tar.gz").size // 2
    flipped = bytearray(data)
    flipped[off] ^= 0x01
    (d / "flipped").write_bytes(bytes(flipped))
    (d / "truncated").write_bytes(data[:len(data) // 2])
    (d / "text").write_text("<html>404 Not Found</html>\n")
    doc = json.loads(parts["manifest.json"])
    doc["version"] = bump(NEXT, 10)
    tampered = dict(parts, **{"manifest.json": json.dumps(doc).encode()})
    new_pins = copy_tree(d / "src-pins", fake="healthy")
    (new_pins / "requirements.txt").write_text("aiohttp==0.0.1\n")
    return {
        "truncated": (d / "truncated", {}, "not a complete deskphone firmware image"),
        "not an image": (d / "text", {}, "not a complete deskphone firmware image"),
        "flipped payload byte": (d / "flipped", {}, "SHA-256 of payload.tar.gz does not match"),
        "bad md5": (good, {"md5": "0" * 32}, "MD5 of"),
        "bad sha256": (good, {"sha256": "0" * 64}, "SHA-256 of S2_DP330"),
        "untrusted key": (build_image(ROOT, d / "untrusted", version=NEXT,
                                      signing_key=keys["other"]), {}, "does not trust"),
        "tampered manifest": (pack(d / "tampered", tampered), {},
                              "signature does not match the manifest"),
        "wrong model": (build_image(ROOT, d / "model", version=NEXT, signing_key=keys["key"],
                                    model="DP999"), {}, "firmware for deskphone DP999; this "
                                                        "phone is a deskphone DP330"),
        "path traversal": (craft(d / "dotdot", keys["key"], [(member("../evil.py"), b"x")]
                                 + BASIC), {}, "'../evil.py' is not a plain path"),
        "absolute path": (craft(d / "abs", keys["key"], [(member("/etc/evil"), b"x")]
                                + BASIC), {}, "'/etc/evil' is not a plain path"),
        "symlink": (craft(d / "sym", keys["key"], BASIC + [
            (member("firmware/x.py", tarfile.SYMTYPE, "/etc/passwd"), b"")]), {},
            "is a symbolic link"),
        "hard link": (craft(d / "hard", keys["key"], BASIC + [
            (member("firmware/y.py", tarfile.LNKTYPE, "firmware/VERSION"), b"")]), {},
            "is a hard link"),
        "device": (craft(d / "dev", keys["key"], BASIC + [
            (member("firmware/null", tarfile.CHRTYPE), b"")]), {}, "is a device"),
        "newer supervisor": (build_image(ROOT, d / "boot", version=NEXT,
                                         signing_key=keys["key"], min_boot=BOOT_VERSION + 1),
                             {}, f"needs boot supervisor version {BOOT_VERSION + 1}"),
        "other packages": (build_image(new_pins, d / "pins", version=NEXT,
                                       signing_key=keys["key"]), {},
                           "needs Python packages this phone does not have: aiohttp==0.0.1"),
        "bigger than it says": (craft(d / "bomb", keys["key"], BASIC + [
            (member("firmware/big.bin"), b"\0" * 100_000)], unpacked=100), {},
            "unpacks to more than its manifest says"),
    }


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (os.readlink(p) if p.is_symlink() else
                                       p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*")) if "__pycache__" not in p.parts}


def test_bad_images_are_refused_with_their_reason_and_the_slots_stay_as_they_were(
        tmp_path, images, keys):
    slots = Slots(tmp_path / "slots")
    m = verify_image(images["good"], trusted_keys=keys["trusted"])
    slots.switch_to(slots.install(images["good"], m), 30)
    assert slots.mark_healthy()
    before = snapshot(slots.root)
    cases = _bad_images(tmp_path, images["good"], keys)
    for case, (image, extra, reason) in cases.items():
        with pytest.raises(ImageError) as e:
            apply_upgrade(image, slots=slots, trusted_keys=keys["trusted"],
                          require_supervisor=False, **extra)
        assert reason in str(e.value), f"{case}: {e.value}"
        assert snapshot(slots.root) == before, f"{case} changed the slots"
    assert slots.status()["active"] == {"slot": "a", "version": NEXT}


def test_a_version_file_names_the_image_on_its_first_line():
    vf = parse_version_file("S2_ES320N_version1.1.5.0-1147\r\n")     # the manual's example
    assert (vf.model, vf.version, vf.md5) == ("ES320N", "1.1.5.0-1147", None)
    with pytest.raises(ImageError, match="not a software file name"):
        parse_version_file(b"<html>404</html>")
    with pytest.raises(ImageError, match="empty"):
        parse_version_file(b"\n")


def test_versions_compare_as_numbers_with_build_counts():
    assert compare_versions("0.10.0", "0.9.9") == 1
    assert compare_versions("0.3", "0.3.0") == 0
    assert compare_versions("1.1.5.0-1147", "1.1.5.0-999") == 1
    assert compare_versions("1.1.5.0", "1.1.5.0-1") == -1
    assert compare_versions("2.2.7.5-3077", "10.0") == -1
    with pytest.raises(ValueError, match="not a firmware version"):
        compare_versions("0.3.0rc1", "0.3.0")


def test_an_older_or_same_version_is_not_installed(tmp_path, keys):
    (tmp_path / "img").mkdir()
    same = build_image(ROOT, tmp_path / "img", version=VERSION, signing_key=keys["key"])
    with pytest.raises(ImageError, match="not newer than the running"):
        apply_upgrade(same, slots=Slots(tmp_path / "slots"), trusted_keys=keys["trusted"],
                      require_supervisor=False)
    assert not (tmp_path / "slots").exists()


def test_a_phone_not_started_by_the_supervisor_installs_nothing(tmp_path, images, keys,
                                                               monkeypatch):
    monkeypatch.delenv("DESKPHONE_SLOTS", raising=False)
    with pytest.raises(ImageError, match="not started by the boot supervisor"):
        apply_upgrade(images["good"], slots=Slots(tmp_path / "slots"),
                      trusted_keys=keys["trusted"])
    assert not (tmp_path / "slots").exists()


def test_the_command_line_makes_keys_images_md5_and_the_version_file(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "provisioning.image", *map(str, args)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    r = run("keygen", tmp_path / "k.key")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    r = run("build", "--version", NEXT, "--key", tmp_path / "k.key", "--src", ROOT,
            "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    image = tmp_path / "out" / image_name(NEXT)
    vf = parse_version_file((tmp_path / "out/F0DP330.cfg").read_bytes())
    assert (vf.image, vf.version, vf.md5) == (image.name, NEXT, md5_of(image))
    md5_file = tmp_path / "out" / f"{image.name}.md5"
    assert md5_file.read_text() == f"{md5_of(image)}  {image.name}\n"
    r = run("verify", image, "--pub", tmp_path / "k.pub")
    assert r.returncode == 0 and "good" in r.stdout, r.stderr
    r = run("verify", image)             # only the release keys: not trusted
    assert r.returncode == 1 and "does not trust" in r.stderr
    image.with_name(image.name + ".md5").write_text(f"{'0' * 32}  {image.name}\n")
    r = run("verify", image, "--pub", tmp_path / "k.pub")
    assert r.returncode == 1 and "MD5" in r.stderr


def test_the_release_key_is_shipped_and_no_private_key_is_in_the_tree():
    pubs = list((ROOT / "provisioning/trusted_keys").glob("*.pub"))
    assert pubs, "provisioning/trusted_keys/ has no release public key"
    for p in pubs:
        load_public_key(p)
    private = []
    for dirpath, dirnames, files in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in (".venv", ".git", "__pycache__")]
        private += [f for f in files if f.endswith(".key")]
    assert private == [], "a private key is in the tree; release keys are kept offline"


def test_requirements_the_venv_lacks_are_named():
    assert check_requirements((ROOT / "requirements.txt").read_text()) == []
    assert check_requirements("aiohttp==0.0.1\nnosuchpkg-deskphone==1.0\n"
                              'tomli_w==9.9 ; sys_platform == "nonesuch"\n') == [
        f"aiohttp==0.0.1 (installed: {__import__('aiohttp').__version__})",
        "nosuchpkg-deskphone==1.0 (not installed)"]


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from provisioning.errors import ImageError
from provisioning.image import load_public_key
from provisioning.slots import Slots, apply_upgrade
image, root, pub = map(Path, sys.argv[1:4])
keys = [load_public_key(pub)]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
try:
    apply_upgrade(image, require_supervisor=False, slots=Slots(root), trusted_keys=keys)
except ImageError as e:
    print(e)
"""


def test_a_write_error_while_installing_switches_nothing(tmp_path, images, keys):
    """Files may not grow past 8 KiB in this installer (a real EFBIG from the kernel, as a
    full disk gives ENOSPC): the install fails, is cleaned up, and nothing is switched."""
    root = tmp_path / "slots"
    r = subprocess.run([sys.executable, "-c", FULL_DISK, str(images["good"]), str(root),
                        str(keys["pub"])], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.startswith(f"cannot unpack {NEXT} into {root / 'a'}: File too large; "
                               f"nothing was switched, the phone stays on {VERSION}"), \
        r.stdout + r.stderr
    st = Slots(root).status()
    assert st["active"]["slot"] == "factory" and st["trial"] is None and st["other"] is None
    assert not (root / "current").exists() and not list(root.glob(".new-*"))


def test_trusted_keys_from_the_environment_only_from_a_directory_others_cannot_write(
        tmp_path, keys):
    from provisioning.image import trusted_keys
    shipped = len(trusted_keys(env={}))
    assert len(trusted_keys(env={"DESKPHONE_TRUSTED_KEYS": str(keys["dir"])})) == \
        shipped + 1
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(keys["pub"], loose)
    loose.chmod(0o777)
    assert len(trusted_keys(env={"DESKPHONE_TRUSTED_KEYS": str(loose)})) == shipped


def test_report_healthy_without_slots_does_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("DESKPHONE_SLOTS", raising=False)
    monkeypatch.delenv("DESKPHONE_HEALTH_FD", raising=False)
    assert report_healthy(tmp_path) is False
    assert report_healthy(None) is False
    assert list(tmp_path.iterdir()) == []


# --- the supervisor ---------------------------------------------------------------------------

class SupervisedPhone(PhoneProcess):
    """PhoneProcess started through the boot supervisor; its output goes to a file."""

    def __init__(self, data_dir: Path, *, slots: Path, trusted: Path, boot_args=(),
                 env: dict | None = None, **kw):
        super().__init__(data_dir, module="firmware.boot",
                         module_args=["--slots", str(slots), *boot_args, "--"],
                         env={"DESKPHONE_TRUSTED_KEYS": str(trusted), **(env or {})}, **kw)
        self.slots = slots
        self.trusted = trusted
        self.out = Path(data_dir).parent / f"{Path(data_dir).name}.out"

    def output(self) -> str:
        try:
            return self.out.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def version(self) -> str | None:
        try:
            return self.state()["version"]
        except (OSError, PhoneError, ValueError):
            return None

    def detail(self) -> str:
        return (f"supervisor output:\n{self.output()}\nslots: "
                f"{json.dumps(Slots(self.slots).status(), indent=1)}\nlog:\n{self.log_tail()}")


def last_result(slots: Path) -> dict:
    return Slots(slots).status()["last"] or {}


def test_an_upgrade_runs_the_new_firmware_which_reports_healthy(tmp_path, images, keys):
    slots = tmp_path / "slots"
    with SupervisedPhone(tmp_path / "data", slots=slots, trusted=keys["dir"]) as phone:
        assert phone.version() == VERSION
        shown: list[str] = []
        m = apply_upgrade(images["real"], slots=Slots(slots), trusted_keys=keys["trusted"],
                          md5=md5_of(images["real"]), health_seconds=60,
                          progress=shown.append, require_supervisor=False)
        assert m.version == NEXT
        assert shown[0] == "Checking firmware" and shown[-2:] == ["Installing 100%",
                                                                  f"Installed {NEXT}"]
        st = Slots(slots).status()
        assert st["trial"]["version"] == NEXT and st["active"]["slot"] == "a"
        # images carry no binaries; the install built the SIP gate's library for this phone
        assert not [p for p in image_tree_files(ROOT) if p.suffix == ".so"]
        assert (slots / st["trial"]["slot"] / "firmware/sip/_fastgate.so").is_file()
        assert phone.version() == VERSION          # nothing restarts by itself
        os.kill(phone.proc.pid, signal.SIGUSR1)    # what the engine's exit 75 does
        wait_for(lambda: phone.version() == NEXT, f"the phone running {NEXT}",
                 detail=phone.detail)
        wait_for(lambda: last_result(slots).get("result") == "success", "a healthy report",
                 detail=phone.detail)
        st = Slots(slots).status()
        assert st["trial"] is None
        assert st["active"] == {"slot": "a", "version": NEXT}
        assert st["factory"] == {"version": VERSION}
        assert st["last"]["from_version"] == VERSION
        assert phone.stop() == 0


@pytest.mark.parametrize("kind, trial, reason", [
    ("crash", 60, f"{NEXT} exited with status 1 before reporting healthy; back on {VERSION}"),
    ("hang", 2, f"{NEXT} did not report healthy within 2 s; back on {VERSION}"),
])
def test_a_failing_new_firmware_is_rolled_back_and_the_old_one_runs_again(
        tmp_path, images, keys, kind, trial, reason):
    slots = tmp_path / "slots"
    with SupervisedPhone(tmp_path / "data", slots=slots, trusted=keys["dir"]) as phone:
        apply_upgrade(images[kind], slots=Slots(slots), trusted_keys=keys["trusted"],
                      require_supervisor=False,
                      health_seconds=trial)
        os.kill(phone.proc.pid, signal.SIGUSR1)
        wait_for(lambda: last_result(slots).get("result") == "rolled back", "the rollback",
                 detail=phone.detail)
        wait_for(lambda: phone.version() == VERSION, f"{VERSION} running again",
                 detail=phone.detail)
        st = Slots(slots).status()
        assert st["last"]["reason"] == reason
        assert st["active"] == {"slot": "factory", "version": VERSION} and st["trial"] is None
        assert (tmp_path / "data/runs.log").read_text().split() == [NEXT, kind, "a"]
        assert phone.output().count("back on") == 1, phone.output()    # no spinning
        assert phone.stop() == 0


INSTALLER = """
import sys
from pathlib import Path
from provisioning.image import load_public_key, verify_image
from provisioning.slots import Slots
image, root, pub = map(Path, sys.argv[1:4])
m = verify_image(image, trusted_keys=[load_public_key(pub)])
def progress(stage, done, total):
    print(stage, done, flush=True)
    sys.stdin.readline()          # hold still mid-install until killed
Slots(root).install(image, m, progress=progress)
"""


def test_a_phone_killed_in_the_middle_of_an_install_boots_its_active_firmware(
        tmp_path, images, keys):
    slots = Slots(tmp_path / "slots")
    m = verify_image(images["real"], trusted_keys=keys["trusted"])
    slots.switch_to(slots.install(images["real"], m), 60)
    assert slots.mark_healthy()
    phone = SupervisedPhone(tmp_path / "data", slots=slots.root, trusted=keys["dir"])
    try:
        phone.start()
        assert phone.version() == NEXT                       # slot a
        installer = subprocess.Popen(
            [sys.executable, "-c", INSTALLER, str(images["good"]), str(slots.root),
             str(keys["pub"])], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        try:
            line = installer.stdout.readline()
            assert line.startswith("unpack"), line
            assert list(slots.root.glob(".new-b-*")), "the install was not under way"
        finally:
            installer.kill()
            installer.wait(10)
        phone.kill()                                          # kill -9, supervisor and all
        assert os.readlink(slots.root / "current") == "a"
        phone.start()
        assert phone.version() == NEXT
        assert Slots(slots.root).status()["active"] == {"slot": "a", "version": NEXT}
        m2 = verify_image(images["good"], trusted_keys=keys["trusted"])
        assert Slots(slots.root).install(images["good"], m2) == "b"
        assert not list(slots.root.glob(".new-*")) and not list(slots.root.glob(".old-*"))
        assert phone.stop() == 0
    finally:
        phone.kill()


def run_supervisor(tmp_path: Path, keys, *, factory: Path, env: dict | None = None,
                   args=("--max-backoff", "0.05")) -> subprocess.Popen:
    out = open(tmp_path / "boot.out", "ab")
    return spawn(      # its own session, and it dies with the test run
        [sys.executable, "-m", "firmware.boot", "--slots", str(tmp_path / "slots"),
         "--factory", str(factory), *args, "--", "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        env=dict(os.environ, DESKPHONE_TRUSTED_KEYS=str(keys["dir"]), **(env or {})))


def runs(tmp_path: Path) -> list[str]:
    try:
        return (tmp_path / "data/runs.log").read_text().splitlines()
    except FileNotFoundError:
        return []


def stop(proc: subprocess.Popen, tmp_path: Path) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        raise AssertionError(f"the supervisor did not stop\n{(tmp_path / 'boot.out').read_text()}")


def test_the_engine_applies_an_image_and_exits_75_then_the_new_firmware_takes_over(
        tmp_path, images, keys):
    """The whole contract inside the firmware: apply_upgrade() finds the slots, the trusted
    keys and the boot version in the environment the supervisor gives it."""
    factory = copy_tree(tmp_path / "factory", fake="upgrade")
    proc = run_supervisor(tmp_path, keys, factory=factory,
                          env={"FAKE_IMAGE": str(images["healthy"])})
    try:
        wait_for(lambda: last_result(tmp_path / "slots").get("result") == "success",
                 "the upgrade to end well",
                 detail=lambda: (tmp_path / "boot.out").read_text())
        assert runs(tmp_path) == [f"{VERSION} upgrade factory", f"{NEXT} healthy a"]
        assert RESTART_EXIT == 75
        assert stop(proc, tmp_path) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_firmware_that_keeps_crashing_falls_back_to_the_one_before(tmp_path, images, keys):
    slots = Slots(tmp_path / "slots")
    m = verify_image(images["crash"], trusted_keys=keys["trusted"])
    slots.switch_to(slots.install(images["crash"], m), 60)
    assert slots.mark_healthy()        # it once came up; now it crashes at every start
    factory = copy_tree(tmp_path / "factory", fake="healthy")
    proc = run_supervisor(tmp_path, keys, factory=factory)
    try:
        wait_for(lambda: runs(tmp_path)[-1:] == [f"{VERSION} healthy factory"],
                 "the factory firmware to run",
                 detail=lambda: (tmp_path / "boot.out").read_text())
        assert runs(tmp_path)[:-1] == [f"{NEXT} crash a"] * 5
        assert last_result(slots.root)["reason"] == (
            f"{NEXT} exited with status 1 5 times in a row without coming up; "
            f"back on {VERSION}")
        assert stop(proc, tmp_path) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_factory_firmware_refusing_its_arguments_stops_the_supervisor(tmp_path, keys):
    factory = copy_tree(tmp_path / "factory", fake="badargs")
    proc = run_supervisor(tmp_path, keys, factory=factory)
    try:
        assert proc.wait(15) == 2
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert runs(tmp_path) == [f"{VERSION} badargs factory"]


def test_a_switch_cut_short_before_the_link_moved_leaves_the_old_firmware(tmp_path, images,
                                                                           keys):
    """switch_to writes the trial, then flips `current`; power lost in between."""
    from firmware.boot import read_state, write_state
    slots = Slots(tmp_path / "slots")
    slot = slots.install(images["healthy"], verify_image(images["healthy"],
                                                         trusted_keys=keys["trusted"]))
    st = read_state(slots.root)
    st["trial"] = {"slot": slot, "version": NEXT, "from": "factory", "seconds": 30}
    write_state(slots.root, st)
    factory = copy_tree(tmp_path / "factory", fake="healthy")
    proc = run_supervisor(tmp_path, keys, factory=factory)
    try:
        wait_for(lambda: runs(tmp_path) == [f"{VERSION} healthy factory"], "the old firmware",
                 detail=lambda: (tmp_path / "boot.out").read_text())
        last = last_result(slots.root)
        assert (last["result"], last["reason"]) == (
            "failed", f"the switch to {NEXT} was interrupted; still on {VERSION}")
        assert slots.status()["trial"] is None
        assert stop(proc, tmp_path) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


# --- auto provisioning brings the image (manual appendix 2.1) -------------------------------

from tests.peers.fixtures import tftpd  # noqa: E402,F401  (fixture)


def test_auto_provisioning_installs_a_newer_firmware_named_by_the_version_file(
        tmp_path, images, keys, tftpd):
    img = images["real"]
    tftpd.put(f"prov/{img.name}", img.read_bytes())
    tftpd.put(f"prov/{img.name}.md5", f"{md5_of(img)}  {img.name}\n".encode())
    tftpd.put("prov/F0DP330.cfg", f"{img.name}\n".encode())
    slots = tmp_path / "slots"
    with SupervisedPhone(tmp_path / "data", slots=slots, trusted=keys["dir"],
                         settings={"provisioning.url": tftpd.url("prov")}) as phone:
        # at boot: version file, newer image, MD5, signature, install, restart, healthy
        wait_for(lambda: phone.version() == NEXT, f"the phone to run {NEXT}",
                 timeout=60, detail=phone.detail)
        wait_for(lambda: last_result(slots).get("result") == "success",
                 "the new firmware to report healthy", detail=phone.detail)
        st = phone.request("GET", "/api/provision")
        assert st["firmware"]["active"]["version"] == NEXT

        # the new firmware's own boot check finds nothing newer; the log (kept across the
        # restart) says what the old one installed
        def version_file():
            last = phone.request("GET", "/api/provision")["last"] or {}
            return {f["name"]: f for f in last.get("files", [])}.get("F0DP330.cfg", {})
        wait_for(lambda: version_file().get("status") == "unchanged",
                 "the new firmware's boot check", detail=phone.detail)
        assert "is not newer" in version_file()["detail"]
        log = "\n".join(phone.request("GET", "/api/provision")["log"])
        assert f"installing {NEXT}" in log and f"restarting: firmware {NEXT}" in log


@pytest.mark.parametrize("damage", ["truncated", "wrong md5", "untrusted"])
def test_a_bad_image_on_the_server_changes_nothing(tmp_path, images, keys, tftpd, damage):
    img = images["real"]
    data, md5 = img.read_bytes(), md5_of(img)
    trusted = keys["dir"]
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "wrong md5":
        md5 = hashlib.md5(b"something else").hexdigest()
    else:
        trusted = tmp_path / "nobody"          # the phone trusts no test key
        trusted.mkdir(mode=0o700)
    tftpd.put(f"prov/{img.name}", data)
    tftpd.put("prov/F0DP330.cfg", f"{img.name}\nmd5={md5}\n".encode())
    # a config change rides along: it must not be applied either (all or nothing)
    tftpd.put("prov/00268b1a2b3c.xml",
              b'<all><lcds><lcd Contrast="2"/></lcds></all>')
    slots = tmp_path / "slots"
    with SupervisedPhone(tmp_path / "data", slots=slots, trusted=trusted,
                         settings={"provisioning.url": tftpd.url("prov"),
                                   "hardware.mac": "00:26:8b:1a:2b:3c"}) as phone:
        wait_for(lambda: (phone.request("GET", "/api/provision")["last"] or {}).get(
            "result") == "failed", "the run to fail", detail=phone.detail)
        last = phone.request("GET", "/api/provision")["last"]
        reason = {"truncated": "", "wrong md5": "MD5", "untrusted": "key"}[damage]
        assert reason.lower() in last["summary"].lower(), last
        assert phone.request("GET", "/api/settings")["settings"]["lcd.contrast"] == 5
        assert phone.version() == VERSION
        assert Slots(slots).status()["other"] is None     # nothing was installed
