"""python -m firmware --board sim --data-dir DIR [--http 127.0.0.1:8080]

Also: `python -m firmware passwd --data-dir DIR` sets the web password, and
`python -m firmware settings` prints every setting with its default and meaning.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m firmware", description="deskphone firmware")
    p.add_argument("command", nargs="?", default="run", choices=("run", "passwd", "settings"))
    p.add_argument("--board", default="sim", help="board definition (default: sim)")
    p.add_argument("--data-dir", default="var", type=Path,
                   help="settings, logs and state live here (default: ./var)")
    p.add_argument("--http", default=None, metavar="ADDR:PORT",
                   help="web page and API address (overrides web.listen; '' = off)")
    p.add_argument("--quiet", action="store_true", help="no warnings on stderr")
    p.add_argument("--markdown", action="store_true", help="settings: print a README table")
    args = p.parse_args(argv)

    if args.command == "settings":
        from firmware.settings import FIELDS
        if args.markdown:
            print("| key | default | meaning |\n| --- | --- | --- |")
        for key, f in FIELDS.items():
            if key.startswith(("account.2.", "account.3.")):
                continue          # the same as account.1
            default = "" if f.metadata["secret"] else json.dumps(f.default)
            doc = f.metadata["doc"] + (" (after restart)" if f.metadata["restart"] else "")
            if args.markdown:
                key = key.replace("account.1.", "account.N.")
                print(f"| `{key}` | `{default}` | {doc} |".replace("``", ""))
            else:
                print(f"{key:32} {default:18} {doc}")
        return 0
    if args.command == "passwd":
        from firmware.errors import SettingsInvalid
        from firmware.settings import SettingsStore, hash_password, password_problem
        store = SettingsStore(args.data_dir)
        store.load()
        pw = getpass.getpass("new web password: ") if sys.stdin.isatty() else \
            sys.stdin.readline().rstrip("\n")
        problem = password_problem(pw, store.settings.web.user)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        try:
            store.update({"web.password_hash": hash_password(pw)})
        except SettingsInvalid as e:
            print(e, file=sys.stderr)
            return 2
        # a running phone reads the new hash at its next sign-in check (no restart, no HUP)
        print(f"saved in {store.path}; a running phone uses it from the next sign-in")
        return 0

    from firmware.app import App
    from firmware.errors import BoardError
    if args.http is not None and args.http:
        from firmware.settings import _listen
        try:
            _listen(args.http)
        except ValueError as e:
            print(f"--http: {e}", file=sys.stderr)
            return 2
    app = App(board=args.board, data_dir=args.data_dir, http=args.http,
              console_log=not args.quiet)
    try:
        asyncio.run(app.run())
    except BoardError as e:
        print(f"--board: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"cannot start: {e}", file=sys.stderr)
        return 1
    return app.exit_code


if __name__ == "__main__":
    sys.exit(main())
