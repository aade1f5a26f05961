"""python -m firmware --board sim --data-dir DIR [--http 127.0.0.1:8080]

Also: `python -m firmware passwd --data-dir DIR` sets the web password, and
`python -m firmware settings` prints every setting with its default and meaning.

The phone starts SIP and sends the first REGISTER (firmware/startup.py) before it imports
asyncio, the App and everything else; the App then takes over the running SIP engine. So
only what SIP needs is imported here at the top.
"""
from __future__ import annotations

import argparse
import faulthandler
import gc
import logging
import os
import signal
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
    p.add_argument("--role", choices=("admin", "user"), default="admin",
                   help="passwd: whose web password (the user then changes it at the next "
                        "sign-in; firmware/roles.py)")
    p.add_argument("--user", metavar="NAME", help="passwd: a new login name for that role")
    args = p.parse_args(argv)

    if args.command == "settings":
        import json

        from firmware.settings import FIELDS
        if args.markdown:
            from firmware.menus import where
            print("| key | default | meaning | where (LCD menu, web page) |\n"
                  "| --- | --- | --- | --- |")
        for key, f in FIELDS.items():
            if key.startswith(("account.2.", "account.3.")):
                continue          # the same as account.1
            default = "" if f.metadata["secret"] else json.dumps(f.default)
            doc = f.metadata["doc"] + (" (after restart)" if f.metadata["restart"] else "")
            if args.markdown:
                place = where(key).replace("Account 1", "Account N").replace("account.1", "account.N")
                key = key.replace("account.1.", "account.N.")
                cell = default.replace("|", "\\|")    # GFM: a | ends a cell, even in code
                print(f"| `{key}` | `{cell}` | {doc} | {place} |".replace("``", ""))
            else:
                print(f"{key:32} {default:18} {doc}")
        return 0
    if args.command == "passwd":
        import getpass

        from firmware.errors import SettingsInvalid
        from firmware.settings import SettingsStore, hash_password, password_problem
        store = SettingsStore(args.data_dir)
        store.load()
        w, user = store.settings.web, args.role == "user"
        name = args.user or (w.user_name if user else w.user)
        if name == (w.user if user else w.user_name):
            print(f"'{name}' is the other role's login name: choose another", file=sys.stderr)
            return 2
        pw = getpass.getpass(f"new web password of the {args.role} ({name}): ") \
            if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        problem = password_problem(pw, name)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        values = {"web.user_name": name, "web.user_password_hash": hash_password(pw),
                  "web.user_must_change": True} if user else \
            {"web.user": name, "web.password_hash": hash_password(pw)}
        try:
            store.update(values)
        except SettingsInvalid as e:
            print(e, file=sys.stderr)
            return 2
        # a running phone reads the new hash at its next sign-in check (no restart, no HUP)
        print(f"saved in {store.path}; a running phone uses it from the next sign-in"
              + (f" ({name} chooses their own password there)" if user else ""))
        return 0

    # Start-up allocates much and frees little: no garbage collection until the phone is
    # up (App.run turns it on again); ~5 % less CPU before the first REGISTER.
    gc.disable()
    # a crash in C (pjsip, fastgate.c, a driver) prints every thread's Python stack on
    # stderr (the journal on a Pi, the output a test shows) before the process dies
    faulthandler.enable()
    die_with_supervisor()
    _early_log(args.data_dir, console=not args.quiet)
    from firmware.errors import BoardError
    if args.http is not None and args.http:
        from firmware.settings import FIELDS
        try:
            FIELDS["web.listen"].metadata["check"](args.http)
        except ValueError as e:
            return _fail(2, f"--http: {e}")
    from firmware import startup
    try:
        # settings, log, board file, SIP and the first REGISTER: before the rest is imported
        early = startup.begin(board=args.board, data_dir=args.data_dir,
                              console=not args.quiet)
    except BoardError as e:
        return _fail(2, f"--board: {e}")
    except OSError as e:
        return _fail(1, f"cannot start: {e}")
    early.wait_first_answers()     # the rest is imported after the first REGISTERs' answers
    try:
        import asyncio

        from firmware.app import App
        app = App(board=args.board, data_dir=args.data_dir, http=args.http,
                  console_log=not args.quiet, early=early)
    except BaseException:
        early.sip.stop()
        raise
    try:
        asyncio.run(app.run())
    except BoardError as e:
        return _fail(2, f"--board: {e}")
    except OSError as e:
        return _fail(1, f"cannot start: {e}")
    except Exception:
        logging.getLogger("firmware").exception("the phone stopped on an error")
        raise
    return app.exit_code


def _early_log(data_dir: Path, *, console: bool) -> None:
    """DIR/logs/phone.log from the first line on, with the default level: what goes wrong
    while the settings are read (and before the app sets the log up as they say) is in
    the log like everything else. The data dir is made the owner's alone first."""
    from firmware import logs
    from firmware.settings import secure
    secure(data_dir)
    try:
        logs.setup(data_dir / "logs", console=console)
    except OSError as e:
        print(f"cannot write {data_dir / 'logs'}: {e}; logging to stderr only",
              file=sys.stderr)


def _fail(code: int, message: str) -> int:
    """A start-up failure: in the log (when there is one) and on stderr."""
    log = logging.getLogger("firmware")
    if log.isEnabledFor(logging.ERROR) and logging.getLogger().handlers:
        log.error("%s", message)
    print(message, file=sys.stderr)
    return code


def die_with_supervisor() -> None:
    """Under firmware.boot: exit (SIGTERM, a clean stop) when the supervisor dies, even
    by SIGKILL, so no phone runs on without the process that watches it. Linux only;
    elsewhere the phone just runs on."""
    parent = os.environ.get("DESKPHONE_SUPERVISOR_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:     # it died before the line above: stop now
        sys.exit("deskphone: the supervisor (firmware.boot) is gone; not starting")


PR_SET_PDEATHSIG = 1


if __name__ == "__main__":
    sys.exit(main())
