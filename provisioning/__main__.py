"""Tools for the provisioning server's administrator.

    python -m provisioning encrypt (--key K | --key-file F) IN [OUT]   (OUT omitted: IN in place)
    python -m provisioning decrypt (--key K | --key-file F) IN [OUT]   (OUT omitted: stdout)
    python -m provisioning fleet phones.csv OUTDIR [--aes-key K] [--upper] [--global settings.toml]
    python -m provisioning export --data-dir DIR [--secrets] [--aes-key K] [-o OUT]

Exit status: 0 done, 1 the files say no (bad file, wrong key, bad CSV), 2 wrong usage.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from firmware.files import atomic_write
from provisioning.errors import BadFile

OK, FAILED, USAGE = 0, 1, 2


def _key(args, parser) -> str:
    if args.key_file:
        try:
            key = Path(args.key_file).read_text("utf-8").strip("\r\n")
        except OSError as e:
            parser.error(f"cannot read the key file {args.key_file}: {e.strerror}")
    else:
        key = args.key or ""
    if not key:
        parser.error("give the AES key: --key KEY or --key-file FILE")
    return key


def _write(path: str, data: bytes, *, like: Path | None = None) -> None:
    """Write `path` atomically ('-' = stdout); keeps the mode of `like`, else 0644 so that
    tftpd and web servers can read it."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = Path(path)
    mode = (like.stat().st_mode & 0o7777) if like and like.exists() else 0o644
    atomic_write(target, data, mode=mode)


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def cmd_encrypt(args, parser) -> int:
    from provisioning import crypto
    key = _key(args, parser)
    data = _read(args.input)
    if crypto.is_encrypted(data):
        print(f"{args.input} is already encrypted; nothing done", file=sys.stderr)
        return FAILED
    out = args.output or args.input          # servers swap the file under the same name
    _write(out, crypto.encrypt(data, key), like=Path(args.input) if args.input != "-" else None)
    return OK


def cmd_decrypt(args, parser) -> int:
    from provisioning import crypto
    from provisioning.errors import DecryptError
    key = _key(args, parser)
    data = _read(args.input)
    try:
        plain = crypto.decrypt(data, key, name=args.input)
        if not args.binary and not crypto.plausible(plain):
            raise DecryptError(f"{args.input}: wrong AES key (or damaged file); use --binary "
                               f"if the file is not text")
    except DecryptError as e:
        print(e, file=sys.stderr)
        return FAILED
    _write(args.output or "-", plain)
    return OK


def cmd_fleet(args, parser) -> int:
    from provisioning import fleet
    try:
        paths = fleet.run(Path(args.csv), Path(args.outdir), aes_key=args.aes_key or "",
                          upper=args.upper, global_path=Path(args.global_) if args.global_
                          else None)
    except BadFile as e:
        print(f"nothing written:\n{e}", file=sys.stderr)
        return FAILED
    for p in paths:
        print(p)
    print(f"{len(paths)} files in {args.outdir}" + (" (AES-encrypted)" if args.aes_key else ""),
          file=sys.stderr)
    return OK


def cmd_export(args, parser) -> int:
    from firmware.settings import Settings, apply, flatten
    from provisioning import crypto
    from provisioning.escene import export_config
    path = Path(args.data_dir) / "settings.toml"
    settings = Settings()
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        if not Path(args.data_dir).is_dir():
            parser.error(f"{args.data_dir} is not a data directory")
        print(f"no {path}: exporting the factory settings", file=sys.stderr)
        doc = {}
    except (OSError, ValueError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return FAILED
    settings, problems = apply(settings, flatten(doc))
    for p in problems:
        print(f"{path}: {p} (exported as the default)", file=sys.stderr)
    data = export_config(settings, include_secrets=args.secrets)
    if args.aes_key:
        data = crypto.encrypt(data, args.aes_key)
    _write(args.output, data)
    return OK


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m provisioning",
                                description="deskphone provisioning files: AES, fleet, export")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, what in (("encrypt", "AES-encrypt a file (openssl enc compatible)"),
                       ("decrypt", "decrypt a file")):
        c = sub.add_parser(name, help=what, description=what)
        k = c.add_mutually_exclusive_group()
        k.add_argument("--key", help="the AES key (provisioning.aes_key of the phones)")
        k.add_argument("--key-file", help="read the key from this file (keeps it out of ps)")
        c.add_argument("input", metavar="IN", help="file to read ('-' = stdin)")
        c.add_argument("output", metavar="OUT", nargs="?",
                       help="file to write ('-' = stdout); encrypt: default IN in place, "
                            "decrypt: default stdout")
        if name == "decrypt":
            c.add_argument("--binary", action="store_true",
                           help="do not check that the result is text")

    f = sub.add_parser("fleet", help="provisioning files for many phones from a CSV",
                       description="write <mac>.xml, <account>_Extern.xml and sys_<model>.xml "
                                   "from phones.csv (docs/provisioning-files.md)")
    f.add_argument("csv", metavar="phones.csv")
    f.add_argument("outdir", metavar="OUTDIR", help="the server's directory (created if "
                                                    "missing)")
    f.add_argument("--aes-key", help="encrypt every file with this key")
    f.add_argument("--upper", action="store_true",
                   help="MAC file names in upper case (phones need provisioning."
                        "filename_case = upper)")
    f.add_argument("--global", dest="global_", metavar="settings.toml",
                   help="settings for every phone: written as sys_<model>.xml")

    e = sub.add_parser("export", help="a phone's settings as an Escene-format XML",
                       description="our settings (DIR/settings.toml) as Escene XML")
    e.add_argument("--data-dir", required=True, help="the phone's data directory")
    e.add_argument("--secrets", action="store_true",
                   help="include passwords and keys (default: left out)")
    e.add_argument("--aes-key", help="encrypt the result")
    e.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")

    args = p.parse_args(argv)
    handler = {"encrypt": cmd_encrypt, "decrypt": cmd_decrypt, "fleet": cmd_fleet,
               "export": cmd_export}[args.command]
    try:
        return handler(args, p)
    except FileNotFoundError as e:
        print(f"{e.filename}: no such file", file=sys.stderr)
        return FAILED
    except OSError as e:
        print(f"{getattr(e, 'filename', '') or ''}: {e.strerror or e}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
