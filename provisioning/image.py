"""Firmware images: build, sign, check, unpack safely.

An image is one file, named as the Escene manual names software (`S2_DP330_version0.3.0`),
holding an uncompressed ustar archive of exactly three members, in this order:

    manifest.json    what the image is: model, version, payload hash and size (signed)
    manifest.sig     64-byte Ed25519 signature of manifest.json's bytes
    payload.tar.gz   the firmware tree (firmware/ board/ drivers/ ui/ provisioning/
                     requirements.txt), firmware/VERSION = the image's version

Only the manifest is signed; it carries the payload's SHA-256, so the signature covers every
byte the phone will run. An image is refused before anything is unpacked unless it is
complete, its MD5 matches (when the version file or `<image>.md5` gives one, the manual's
"Check When Upgrade"), its manifest is signed by a trusted key, it is for this model, its
payload matches the manifest, and every payload member is a plain file or directory inside
the tree and the whole unpacks to a bounded size. docs/upgrade.md has the why.

    python -m provisioning.image keygen OUT.key
    python -m provisioning.image build --version 0.3.0 --key OUT.key [--src .] [--out DIR]
    python -m provisioning.image verify IMAGE [--pub KEY.pub] [--md5 HEX]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
import os
import re
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)

from firmware.files import atomic_file
from firmware.system.identity import MODEL, VENDOR, version_file_name
from provisioning.errors import ImageError

FORMAT = 1
MANIFEST, SIGNATURE, PAYLOAD = "manifest.json", "manifest.sig", "payload.tar.gz"
MEMBERS = (MANIFEST, SIGNATURE, PAYLOAD)
PAYLOAD_TREE = ("firmware", "board", "drivers", "ui", "provisioning", "requirements.txt")
REQUIRED = ("firmware/__main__.py", "firmware/VERSION")

MAX_IMAGE = 64 << 20           # the image file
MAX_MANIFEST = 64 << 10
MAX_UNPACKED = 128 << 20       # the payload, unpacked
MAX_FILES = 20_000
MAX_SMALL = 1 << 20            # VERSION, requirements.txt: read into memory

log = logging.getLogger("deskphone.upgrade")

KEYS_DIR = Path(__file__).resolve().parent / "trusted_keys"
TRUSTED_KEYS_ENV = "DESKPHONE_TRUSTED_KEYS"

_VERSION_RE = re.compile(r"\d+(\.\d+)*(-\d+)?")
_NAME_RE = re.compile(r"S2?_(?P<model>[A-Za-z0-9]+)_version(?P<version>\S+)")

Progress = Callable[[str, int, int], None]     # (stage, done, total)


# --- versions and names -------------------------------------------------------------------

def parse_version(text: str) -> tuple[tuple[int, ...], int]:
    """'1.1.5.0-1147' -> ((1, 1, 5, 0), 1147); no build count = 0."""
    text = text.strip()
    if not _VERSION_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a firmware version (numbers and dots, optionally "
                         f"-build, e.g. 0.3.0 or 1.1.5.0-1147)")
    main, _, build = text.partition("-")
    return tuple(int(x) for x in main.split(".")), int(build or 0)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as a is older than, the same as or newer than b. Missing fields are 0
    (0.3 == 0.3.0); the -NNNN build count decides between equal numbers."""
    (na, ba), (nb, bb) = parse_version(a), parse_version(b)
    width = max(len(na), len(nb))
    ka = (na + (0,) * (width - len(na)), ba)
    kb = (nb + (0,) * (width - len(nb)), bb)
    return (ka > kb) - (ka < kb)


def image_name(version: str, model: str = MODEL) -> str:
    """The manual's software file name: S2_<model>_version<version>."""
    return f"S2_{model}_version{version}"


def parse_image_name(name: str) -> tuple[str, str]:
    """'S2_DP330_version0.3.0' (or the manual's 'S_' form) -> ('DP330', '0.3.0')."""
    m = _NAME_RE.fullmatch(name.strip())
    if not m:
        raise ValueError(f"{name!r} is not a software file name (S2_<model>_version<version>, "
                         f"e.g. {image_name('0.3.0')})")
    parse_version(m["version"])
    return m["model"], m["version"]


@dataclass
class VersionFile:
    """The software version file (F0DP330.cfg): first line the image name; we add optional
    key=value lines (md5=, sha256=) that phones reading only the first line ignore."""
    image: str
    model: str
    version: str
    md5: str | None = None
    sha256: str | None = None


def parse_version_file(text: str | bytes) -> VersionFile:
    """Raises ImageError when the first line is not a software file name."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ImageError(f"the version file is empty; its first line must name the image, "
                         f"e.g. {image_name('0.3.0')}")
    try:
        model, version = parse_image_name(lines[0])
    except ValueError as e:
        raise ImageError(str(e)) from None
    extra = {}
    for ln in lines[1:]:
        key, sep, value = ln.partition("=")
        if sep:
            extra[key.strip().lower()] = value.strip().lower()
    return VersionFile(lines[0], model, version, extra.get("md5") or None,
                       extra.get("sha256") or None)


# --- keys -----------------------------------------------------------------------------------

def key_id(pub: Ed25519PublicKey) -> str:
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as e:
        raise ImageError(f"{path}: not a PEM public key ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ImageError(f"{path}: not an Ed25519 public key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise ImageError(f"{path}: not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImageError(f"{path}: not an Ed25519 private key")
    return key


def keygen(out: Path) -> tuple[Path, Path]:
    """OUT.key (0600, PKCS#8 PEM) and OUT.pub (PEM); never overwrites."""
    out = Path(out)
    pub_path = out.with_suffix(".pub")
    if pub_path.exists():
        raise FileExistsError(f"{pub_path} exists; choose another name")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return out, pub_path


def _private_to_group_or_others(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o022)


def trusted_keys(*, env: dict | None = None) -> list[Ed25519PublicKey]:
    """The keys an image may be signed with: the release keys shipped in this firmware
    (provisioning/trusted_keys/*.pub) and, for test and development phones only, the *.pub files in
    the directory named by $DESKPHONE_TRUSTED_KEYS (set by whoever starts the phone, never
    by provisioning or the web). A key file or directory others may write is ignored."""
    env = os.environ if env is None else env
    keys: list[Ed25519PublicKey] = []
    dirs = [KEYS_DIR]
    if env.get(TRUSTED_KEYS_ENV):
        extra = Path(env[TRUSTED_KEYS_ENV])
        if not extra.is_dir():
            log.warning("%s=%s: not a directory; ignored", TRUSTED_KEYS_ENV, extra)
        elif _private_to_group_or_others(extra):
            log.warning("%s=%s: writable by group or others; ignored (chmod go-w it)",
                        TRUSTED_KEYS_ENV, extra)
        else:
            dirs.append(extra)
    for d in dirs:
        for p in sorted(d.glob("*.pub")) if d.is_dir() else ():
            if d != KEYS_DIR and _private_to_group_or_others(p):
                log.warning("%s: writable by group or others; ignored", p)
                continue
            try:
                keys.append(load_public_key(p))
            except ImageError as e:
                log.warning("trusted keys: %s; ignored", e)
    return keys


_default_keys = trusted_keys         # verify_image's parameter hides the name


# --- the manifest ---------------------------------------------------------------------------

@dataclass
class Manifest:
    version: str
    model: str
    vendor: str
    built: str
    payload_sha256: str
    payload_size: int
    unpacked_size: int
    files: int
    min_boot: int
    requirements_sha256: str
    key_id: str
    format: int = FORMAT
    raw: bytes = field(default=b"", repr=False)
    requirements: str = field(default="", repr=False)   # the payload's, after verify

    @property
    def image_name(self) -> str:
        return image_name(self.version, self.model)

    def to_json(self) -> bytes:
        doc = {"format": self.format, "vendor": self.vendor, "model": self.model,
               "version": self.version, "built": self.built,
               "payload": {"name": PAYLOAD, "sha256": self.payload_sha256,
                           "size": self.payload_size, "unpacked_size": self.unpacked_size,
                           "files": self.files},
               "min_boot": self.min_boot, "requirements_sha256": self.requirements_sha256,
               "key_id": self.key_id}
        return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            doc = json.loads(raw)
            p = doc["payload"]
            m = cls(version=str(doc["version"]), model=str(doc["model"]),
                    vendor=str(doc["vendor"]), built=str(doc["built"]),
                    payload_sha256=str(p["sha256"]).lower(), payload_size=int(p["size"]),
                    unpacked_size=int(p["unpacked_size"]), files=int(p["files"]),
                    min_boot=int(doc["min_boot"]),
                    requirements_sha256=str(doc["requirements_sha256"]),
                    key_id=str(doc["key_id"]), format=int(doc["format"]), raw=raw)
            parse_version(m.version)
        except (ValueError, KeyError, TypeError) as e:
            raise ImageError(f"{where}: the manifest is not valid ({type(e).__name__}: {e}); "
                             f"rebuild the image with python -m provisioning.image build") \
                from None
        return m


# --- reading an image -----------------------------------------------------------------------

def _open_image(path: Path) -> tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]:
    """The outer archive, checked for completeness; members by name."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ImageError(f"{path}: cannot read the image ({e.strerror})") from None
    if size > MAX_IMAGE:
        raise ImageError(f"{path.name}: {size} bytes is more than an image may have "
                         f"({MAX_IMAGE >> 20} MiB); it is not a {MODEL} firmware image")
    bad = (f"{path.name} is not a complete deskphone firmware image (truncated download or "
           f"another kind of file); download it again")
    try:
        tar = tarfile.open(path, "r:")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ImageError(f"{bad} ({e})") from None
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as e:
        tar.close()
        raise ImageError(f"{bad} ({e})") from None
    names = [m.name for m in members]
    if names != list(MEMBERS):
        tar.close()
        raise ImageError(f"{bad} (members: {', '.join(names) or 'none'}; expected "
                         f"{', '.join(MEMBERS)})")
    for m in members:
        if not m.isreg() or m.offset_data + m.size > size:
            tar.close()
            raise ImageError(f"{bad} ({m.name} is cut short)")
    return tar, {m.name: m for m in members}


def _read_member(tar: tarfile.TarFile, m: tarfile.TarInfo, limit: int) -> bytes:
    if m.size > limit:
        raise ImageError(f"{m.name} is {m.size} bytes; at most {limit} are allowed")
    f = tar.extractfile(m)
    data = f.read() if f else b""
    if len(data) != m.size:
        raise ImageError(f"{m.name} is cut short; download the image again")
    return data


def read_manifest(path: Path) -> Manifest:
    """The manifest, unverified (for showing what an image claims to be)."""
    tar, members = _open_image(path)
    with tar:
        return Manifest.from_json(_read_member(tar, members[MANIFEST], MAX_MANIFEST),
                                  Path(path).name)


def _file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


class _HashingReader(io.RawIOBase):
    """Hashes and counts the bytes read through it (the payload as it is unpacked)."""

    def __init__(self, f: IO[bytes], limit: int):
        self.f, self.limit = f, limit
        self.h = hashlib.sha256()
        self.n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.f.read(min(len(b), max(self.limit - self.n, 0) + 1))
        self.n += len(data)
        if self.n > self.limit:
            raise ImageError(f"{PAYLOAD} is longer than the manifest says; the image is damaged")
        self.h.update(data)
        b[:len(data)] = data
        return len(data)


def _walk_payload(tar: tarfile.TarFile, m: tarfile.TarInfo, manifest: Manifest,
                  ) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile, _HashingReader]]:
    """Each payload member, checked, as the payload is streamed and hashed; then the
    hash and totals are compared with the manifest. Refuses (ImageError) anything that
    would land outside the tree or is not a plain file or directory."""
    limit = min(manifest.unpacked_size, MAX_UNPACKED)
    raw = _HashingReader(tar.extractfile(m), manifest.payload_size)
    seen: set[str] = set()
    files: set[str] = set()
    total = count = 0
    try:
        inner = tarfile.open(fileobj=io.BufferedReader(raw, 1 << 16), mode="r|gz")
        for member in inner:
            name = member.name
            p = PurePosixPath(name)
            if (not name or name.startswith("/") or p.is_absolute() or "\\" in name
                    or "\0" in name or any(part in ("", ".", "..") for part in name.split("/"))
                    or str(p) != name):
                raise ImageError(f"payload member {name!r} is not a plain path inside the "
                                 f"firmware tree (absolute, '..' or odd); image refused")
            if member.issym() or member.islnk():
                raise ImageError(f"payload member {name!r} is a "
                                 f"{'symbolic' if member.issym() else 'hard'} link (to "
                                 f"{member.linkname!r}); images may hold only files and "
                                 f"directories")
            if not (member.isreg() or member.isdir()):
                raise ImageError(f"payload member {name!r} is a device, FIFO or other special "
                                 f"file; images may hold only files and directories")
            if name in seen:
                raise ImageError(f"payload member {name!r} appears twice; image refused")
            if any(str(parent) in files for parent in p.parents):
                raise ImageError(f"payload member {name!r} lies under a file; image refused")
            seen.add(name)
            count += 1
            if member.isreg():
                files.add(name)
                total += member.size
            if total > limit or count > MAX_FILES:
                raise ImageError(f"the payload unpacks to more than its manifest says (or "
                                 f"more than {MAX_UNPACKED >> 20} MiB / {MAX_FILES} files); "
                                 f"image refused")
            yield member, inner, raw
        raw.read()                   # gzip trailer and padding count too
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile, ValueError) as e:
        raise ImageError(f"{PAYLOAD} cannot be read ({e}); the image is damaged, download "
                         f"it again") from None
    if raw.n != manifest.payload_size or raw.h.hexdigest() != manifest.payload_sha256:
        raise ImageError(_HASH_MISMATCH)
    missing = [r for r in REQUIRED if r not in files]
    if missing:
        raise ImageError(f"the payload has no {', '.join(missing)}; it is not a firmware tree")
    if count != manifest.files or total != manifest.unpacked_size:
        raise ImageError(f"the payload holds {count} members / {total} bytes but the manifest "
                         f"says {manifest.files} / {manifest.unpacked_size}; image refused")


_HASH_MISMATCH = (f"SHA-256 of {PAYLOAD} does not match its signed manifest: the image is "
                  f"damaged or was altered; download it again")


def _check_payload_hash(tar: tarfile.TarFile, m: tarfile.TarInfo, manifest: Manifest) -> None:
    """Before the payload is decompressed or parsed: only signed bytes get that far."""
    h = hashlib.sha256()
    f = tar.extractfile(m)
    for chunk in iter(lambda: f.read(1 << 16), b""):
        h.update(chunk)
    if h.hexdigest() != manifest.payload_sha256:
        raise ImageError(_HASH_MISMATCH)


def verify_image(path: Path, *, trusted_keys: list[Ed25519PublicKey] | None = None,
                 md5: str | None = None, sha256: str | None = None,
                 model: str = MODEL) -> Manifest:
    """Every check short of running it; raises ImageError naming the first that fails.

    md5/sha256: of the whole image file, from the version file or `<image>.md5`.
    trusted_keys: None = trusted_keys() (release keys + $DESKPHONE_TRUSTED_KEYS).
    """
    path = Path(path)
    keys = _default_keys() if trusted_keys is None else trusted_keys
    tar, members = _open_image(path)
    with tar:
        if md5 and _file_digest(path, "md5") != md5.strip().lower():
            raise ImageError(f"MD5 of {path.name} does not match the one given by the server "
                             f"({md5.strip().lower()}): the download is damaged or the version "
                             f"file names another build; download it again")
        if sha256 and _file_digest(path, "sha256") != sha256.strip().lower():
            raise ImageError(f"SHA-256 of {path.name} does not match the one given by the "
                             f"server: the download is damaged; download it again")
        raw = _read_member(tar, members[MANIFEST], MAX_MANIFEST)
        sig = _read_member(tar, members[SIGNATURE], 64)
        manifest = Manifest.from_json(raw, path.name)
        if manifest.format != FORMAT:
            raise ImageError(f"{path.name} has image format {manifest.format}; this firmware "
                             f"reads format {FORMAT}: install an intermediate version first")
        by_id = {key_id(k): k for k in keys}
        signer = by_id.get(manifest.key_id)
        if signer is None:
            raise ImageError(f"{path.name} is signed by key {manifest.key_id}, which this phone "
                             f"does not trust (trusted: {', '.join(by_id) or 'none'}); install "
                             f"only images signed with a deskphone release key")
        try:
            signer.verify(sig, raw)
        except InvalidSignature:
            raise ImageError(f"{path.name}: the signature does not match the manifest: the "
                             f"image was altered after signing; do not install it") from None
        if manifest.vendor != VENDOR or manifest.model != model:
            raise ImageError(f"{path.name} is firmware for {manifest.vendor} {manifest.model}; "
                             f"this phone is a {VENDOR} {model}")
        if members[PAYLOAD].size != manifest.payload_size:
            raise ImageError(f"{PAYLOAD} is {members[PAYLOAD].size} bytes but its signed "
                             f"manifest says {manifest.payload_size}: the image is damaged")
        if manifest.unpacked_size > MAX_UNPACKED:
            raise ImageError(f"{path.name} unpacks to {manifest.unpacked_size >> 20} MiB; at "
                             f"most {MAX_UNPACKED >> 20} MiB are allowed")
        _check_payload_hash(tar, members[PAYLOAD], manifest)
        small: dict[str, bytes] = {}
        for member, inner, _ in _walk_payload(tar, members[PAYLOAD], manifest):
            if member.name in ("firmware/VERSION", "requirements.txt"):
                if member.size > MAX_SMALL:
                    raise ImageError(f"payload {member.name} is too large")
                small[member.name] = inner.extractfile(member).read()
    version = small.get("firmware/VERSION", b"").decode(errors="replace").strip()
    if version != manifest.version:
        raise ImageError(f"the payload's firmware/VERSION says {version!r} but the manifest "
                         f"says {manifest.version}; image refused")
    req = small.get("requirements.txt", b"")
    if hashlib.sha256(req).hexdigest() != manifest.requirements_sha256:
        raise ImageError("the payload's requirements.txt does not match the manifest; "
                         "image refused")
    manifest.requirements = req.decode(errors="replace")
    return manifest


def extract_payload(path: Path, manifest: Manifest, dest: Path, *,
                    progress: Progress | None = None) -> None:
    """Unpack the payload of a verified image into the empty directory dest, checking
    every member again and the payload's hash at the end (the file may have changed since
    it was verified). Files are fsynced; modes are 0644 or 0755, nothing else."""
    dest = Path(dest)
    tar, members = _open_image(path)
    done = 0
    with tar:
        _check_payload_hash(tar, members[PAYLOAD], manifest)
        for member, inner, _ in _walk_payload(tar, members[PAYLOAD], manifest):
            target = dest.joinpath(*member.name.split("/"))
            if member.isdir():
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            mode = 0o755 if member.mode & 0o111 else 0o644
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as out:
                src = inner.extractfile(member)
                for chunk in iter(lambda: src.read(1 << 16), b""):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(target, mode)
            done += member.size
            if progress:
                progress("unpack", done, manifest.unpacked_size)
    for d, _, _ in os.walk(dest):
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# --- building ------------------------------------------------------------------------------

def _boot_version(src_root: Path) -> int:
    try:
        m = re.search(r"^BOOT_VERSION = (\d+)", (src_root / "firmware/boot.py").read_text(), re.M)
    except OSError:
        return 1
    return int(m[1]) if m else 1


def _tree_files(src_root: Path) -> list[Path]:
    out = []
    for top in PAYLOAD_TREE:
        p = src_root / top
        if p.is_file():
            out.append(p)
            continue
        if not p.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames[:] = sorted(d for d in dirnames
                                 if d != "__pycache__" and not d.startswith("."))
            for name in sorted(filenames):
                f = Path(dirpath) / name
                if name.startswith(".") or name.endswith((".pyc", ".key", ".tmp", ".so")):
                    continue        # never a private key, never build droppings (a .so is
                    #                 built for this machine: the phone builds its own)
                if f.is_symlink() or not f.is_file():
                    raise ImageError(f"{f} is a link or special file; images may hold only "
                                     f"files and directories")
                out.append(f)
    return out


def _tarinfo(name: str, size: int, mode: int, mtime: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = size, mode, mtime
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def build_image(src_root: Path, out: Path, *, version: str, signing_key: Path,
                model: str = MODEL, min_boot: int | None = None) -> Path:
    """Pack src_root's firmware tree as version `version`, signed with signing_key.
    out: a directory (the image gets its manual name inside) or the image's path."""
    parse_version(version)
    src_root, out = Path(src_root).resolve(), Path(out)
    key = load_private_key(signing_key)
    if out.is_dir():
        out = out / image_name(version, model)
    files = _tree_files(src_root)
    if not (src_root / "firmware/__main__.py").is_file():
        raise ImageError(f"{src_root} has no firmware/__main__.py; --src must be the top of "
                         f"the deskphone tree")
    mtime = int(time.time())
    buf = io.BytesIO()
    unpacked = count = 0
    requirements = b""
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs_done: set[str] = set()
        for f in files:
            rel = f.relative_to(src_root).as_posix()
            for parent in reversed(PurePosixPath(rel).parents[:-1]):
                if str(parent) not in dirs_done:
                    dirs_done.add(str(parent))
                    ti = _tarinfo(str(parent), 0, 0o755, mtime)
                    ti.type = tarfile.DIRTYPE
                    tar.addfile(ti)
                    count += 1
            data = (version + "\n").encode() if rel == "firmware/VERSION" else f.read_bytes()
            if rel == "requirements.txt":
                requirements = data
            mode = 0o755 if os.access(f, os.X_OK) else 0o644
            tar.addfile(_tarinfo(rel, len(data), mode, mtime), io.BytesIO(data))
            unpacked += len(data)
            count += 1
        if "firmware/VERSION" not in {f.relative_to(src_root).as_posix() for f in files}:
            data = (version + "\n").encode()
            tar.addfile(_tarinfo("firmware/VERSION", len(data), 0o644, mtime), io.BytesIO(data))
            unpacked += len(data)
            count += 1
    payload = buf.getvalue()
    manifest = Manifest(
        version=version, model=model, vendor=VENDOR,
        built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime)),
        payload_sha256=hashlib.sha256(payload).hexdigest(), payload_size=len(payload),
        unpacked_size=unpacked, files=count,
        min_boot=_boot_version(src_root) if min_boot is None else min_boot,
        requirements_sha256=hashlib.sha256(requirements).hexdigest(),
        key_id=key_id(key.public_key()))
    raw = manifest.to_json()
    sig = key.sign(raw)
    with atomic_file(out, mode=0o644) as f:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in ((MANIFEST, raw), (SIGNATURE, sig), (PAYLOAD, payload)):
                tar.addfile(_tarinfo(name, len(data), 0o644, mtime), io.BytesIO(data))
    return out


def write_release_files(image: Path) -> tuple[Path, Path]:
    """Beside the image: `<image>.md5` (md5sum format) and the version file F0DP330.cfg
    (first line the image name, then md5= and sha256= lines)."""
    image = Path(image)
    model, _ = parse_image_name(image.name)
    md5, sha = _file_digest(image, "md5"), _file_digest(image, "sha256")
    md5_path = image.with_name(image.name + ".md5")
    md5_path.write_text(f"{md5}  {image.name}\n")
    vf = image.with_name(version_file_name(model))
    vf.write_text(f"{image.name}\nmd5={md5}\nsha256={sha}\n")
    return md5_path, vf


# --- command line ------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m provisioning.image",
                                description="build, sign and check deskphone firmware images")
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keygen", help="make a signing key pair: OUT.key (keep it offline) "
                                      "and OUT.pub")
    k.add_argument("out", type=Path)
    b = sub.add_parser("build", help="build and sign an image, its .md5 and the version file")
    b.add_argument("--version", required=True)
    b.add_argument("--key", required=True, type=Path, help="private signing key (PEM)")
    b.add_argument("--src", default=".", type=Path, help="top of the deskphone tree")
    b.add_argument("--out", default=".", type=Path, help="directory for the three files")
    b.add_argument("--model", default=MODEL)
    v = sub.add_parser("verify", help="check an image as a phone would")
    v.add_argument("image", type=Path)
    v.add_argument("--pub", type=Path, action="append",
                   help="trust this public key (default: provisioning/trusted_keys/*.pub)")
    v.add_argument("--md5", help="expected MD5 (default: IMAGE.md5 if present)")
    v.add_argument("--model", default=MODEL)
    a = p.parse_args(argv)
    try:
        if a.cmd == "keygen":
            key, pub = keygen(a.out)
            print(f"private key: {key} (mode 0600; keep it offline, never in the repository)\n"
                  f"public key:  {pub} (key id {key_id(load_public_key(pub))})")
        elif a.cmd == "build":
            a.out.mkdir(parents=True, exist_ok=True)
            image = build_image(a.src, a.out, version=a.version, signing_key=a.key,
                                model=a.model)
            md5_path, vf = write_release_files(image)
            print(f"{image}\n{md5_path}\n{vf}")
        else:
            keys = [load_public_key(x) for x in a.pub] if a.pub else None
            md5 = a.md5
            md5_file = a.image.with_name(a.image.name + ".md5")
            if md5 is None and md5_file.exists():
                md5 = md5_file.read_text().split()[0]
            m = verify_image(a.image, trusted_keys=keys, md5=md5, model=a.model)
            print(f"{a.image.name}: good: {m.vendor} {m.model} {m.version}, built {m.built}, "
                  f"signed by key {m.key_id}, {m.files} members, {m.unpacked_size} bytes "
                  f"unpacked")
    except (ImageError, ValueError, OSError) as e:
        print(f"{a.cmd}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
