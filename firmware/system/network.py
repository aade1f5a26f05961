"""Network settings (manual §6 "Network Setting": Type static IP or DHCP, IP, Mask, GW,
DNS1, DNS2) made real where the board says how: never silently ignored.

The phone does not own the OS's network; the board file says whether it may change it
(`[network] apply`):
- "none" (the sim board, and any board that leaves it to the OS): the values are kept
  (provisioning and the web show them) and the LCD says they are not applied here;
- "nmcli": NetworkManager (Raspberry Pi OS bookworm) on the connection named by
  `[network] connection`: `nmcli connection modify` with the method, address, gateway and
  DNS, then `nmcli connection up` — what a person would type, run with a timeout.
What happened is one sentence for the LCD (and the log).
"""
from __future__ import annotations

import ipaddress
import logging
import subprocess

log = logging.getLogger("deskphone.network")

NMCLI_TIMEOUT = 20.0
DEFAULT_CONNECTION = "Wired connection 1"     # NetworkManager's name for the first port


def problem(n) -> str:
    """Why these [network] settings cannot be applied as they are ("" = they can)."""
    if n.mode != "static":
        return ""
    if not n.ip or not n.mask:
        return "a static address needs IP and Mask"
    try:
        net = ipaddress.ip_network(f"{n.ip}/{n.mask}", strict=False)
    except ValueError as e:
        return f"IP and Mask do not make an address: {e}"
    if n.gateway and ipaddress.ip_address(n.gateway) not in net:
        return f"GW {n.gateway} is not in {net}"
    return ""


def commands(n, connection: str = DEFAULT_CONNECTION) -> list[list[str]]:
    """The nmcli commands that give the connection these settings."""
    if n.mode == "dhcp":
        change = ["ipv4.method", "auto", "ipv4.addresses", "", "ipv4.gateway", "",
                  "ipv4.dns", ""]
    else:
        prefix = ipaddress.ip_network(f"{n.ip}/{n.mask}", strict=False).prefixlen
        change = ["ipv4.method", "manual", "ipv4.addresses", f"{n.ip}/{prefix}",
                  "ipv4.gateway", n.gateway, "ipv4.dns",
                  " ".join(d for d in (n.dns1, n.dns2) if d)]
    return [["nmcli", "connection", "modify", connection, *change],
            ["nmcli", "connection", "up", connection]]


def apply(n, board_spec: dict) -> str:
    """Apply [network] as the board allows; what happened, in one sentence."""
    how = (board_spec.get("network") or {}).get("apply", "none")
    if how == "none":
        return ("Network saved; this board leaves the OS network alone"
                + (" (the sim board uses the PC's)" if board_spec.get("board", {}).get(
                    "name", "").lower().startswith("simulated") else ""))
    why = problem(n)
    if why:
        return f"Network not applied: {why}"
    connection = (board_spec.get("network") or {}).get("connection", DEFAULT_CONNECTION)
    for argv in commands(n, connection):
        try:
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=NMCLI_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            log.warning("network: %s: %s", " ".join(argv[:3]), e)
            return f"Network not applied: {argv[0]}: {e}"
        if done.returncode:
            why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]
            log.warning("network: %s: %s", " ".join(argv), why[0])
            return f"Network not applied: {why[0]}"
    log.info("network: %s applied to %r", n.mode, connection)
    return f"Network applied: {'DHCP' if n.mode == 'dhcp' else n.ip}"
