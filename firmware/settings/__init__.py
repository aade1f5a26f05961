"""Settings: one typed schema, validated on every way in, written atomically.

`DIR/settings.toml` holds what differs from the factory defaults. Every section is a
Record (written like a dataclass) in schema.py; every field carries its default, its
check and a line of help, and README's settings table is generated from the same fields
(`python -m firmware settings`).

A bad file or a bad value never stops the phone: a value that fails its check is
replaced by the last good value of that key (or the default), a file that does not parse
(however deep its nesting), is larger than MAX_FILE or is empty is left as it is for the
administrator to fix while the phone runs on the last good settings (DIR/.settings.good.toml,
written after every load without problems and every save), and each problem is reported as
"key: reason" to the log, the LCD status line and the API. Values are bounded: strings
MAX_TEXT characters unless a field says otherwise, lists MAX_ITEMS entries.

The data dir is the owner's alone (0700) and the files holding passwords are 0600, also
when they were created by someone else's umask: the store fixes both at every load.

Where each part lives (this package re-exports every name, so `from firmware.settings import
X` works for all of them):
  schema.py     the sections and their fields (defaults, checks, help): Settings, FIELDS
  checks.py     the value checks the fields name (host:port, IP, network, MAC, time...)
  values.py     check one value, apply many, the TOML document, the API's masked view
  store.py      SettingsStore: load with last-good fallback, save atomically; secure()
  passwords.py  the web password's hash and rules
The atomic write itself is firmware/files.py (atomic_write is re-exported here).
"""
from __future__ import annotations

from firmware.files import atomic_write
from firmware.settings.checks import (_dial_code, _hhmm, _host_port, _ip, _ip_or_net, _listen,
                                      _mac, _multicast_group, _number_pattern, _server_url,
                                      _sip_user, _text)
from firmware.settings.passwords import (_COMMON, _HEX, _ITER, FACTORY_PASSWORD, ITERATIONS,
                                         PASSWORD_MAX, PASSWORD_MIN, _pw_bytes, hash_password,
                                         parse_password_hash, password_problem,
                                         verify_password)
from firmware.settings.schema import (ACCOUNTS, DIR_MODE, FIELDS, FILE_MODE, MAX_FILE,
                                      MAX_ITEMS, MAX_NUMBER_TEXT, MAX_TEXT, SECTIONS,
                                      AccountSettings, DialplanSettings, ForwardSettings,
                                      HardwareSettings, LcdSettings, LogSettings,
                                      PagingSettings, PhoneSettings, ProvisioningSettings,
                                      Settings, SipSettings, WebSettings, fields, setting)
from firmware.settings.store import SettingsStore, _few, _read_bounded, _TooBig, secure
from firmware.settings.values import (HEADER, _check_length, _short, apply, assign, check,
                                      factory_values, flatten, public, settings_file,
                                      to_document)

__all__ = [
    "ACCOUNTS", "DIR_MODE", "FACTORY_PASSWORD", "FIELDS", "FILE_MODE", "HEADER", "ITERATIONS",
    "MAX_FILE", "MAX_ITEMS", "MAX_NUMBER_TEXT", "MAX_TEXT", "PASSWORD_MAX", "PASSWORD_MIN",
    "SECTIONS", "AccountSettings", "DialplanSettings", "ForwardSettings", "HardwareSettings",
    "LcdSettings", "LogSettings", "PagingSettings", "PhoneSettings", "ProvisioningSettings",
    "Settings", "SettingsStore", "SipSettings", "WebSettings", "apply", "assign",
    "atomic_write", "check", "factory_values", "fields", "flatten", "hash_password",
    "parse_password_hash", "password_problem", "public", "secure", "setting",
    "settings_file", "to_document", "verify_password",
    # used by the CLI and tests though private
    "_COMMON", "_HEX", "_ITER", "_TooBig", "_check_length", "_dial_code", "_few", "_hhmm",
    "_host_port", "_ip", "_ip_or_net", "_listen", "_mac", "_multicast_group",
    "_number_pattern", "_pw_bytes", "_read_bounded", "_server_url", "_short", "_sip_user",
    "_text",
]
