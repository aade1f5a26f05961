"""Network settings (manual §6 "Network Setting"): checked, applied as the board allows,
and what happened said on the LCD — never silently ignored."""
from __future__ import annotations

import os
import stat

import pytest

from firmware.settings import Settings, apply
from firmware.system import network
from tests.fakes import build


def net(**values):
    s, problems = apply(Settings(), {f"network.{k}": v for k, v in values.items()})
    assert not problems, problems
    return s.network


def test_a_static_address_needs_ip_and_mask_and_a_gateway_inside():
    assert network.problem(net(mode="dhcp")) == ""
    assert "needs IP and Mask" in network.problem(net(mode="static", ip="10.0.0.5"))
    assert "not in 10.0.0.0/24" in network.problem(
        net(mode="static", ip="10.0.0.5", mask="255.255.255.0", gateway="10.0.1.1"))


def test_the_nmcli_commands_are_what_a_person_would_type():
    static = net(mode="static", ip="192.168.0.200", mask="255.255.255.0",
                 gateway="192.168.0.1", dns1="192.168.0.1", dns2="9.9.9.9")
    assert network.commands(static, "eth") == [
        ["nmcli", "connection", "modify", "eth", "ipv4.method", "manual", "ipv4.addresses",
         "192.168.0.200/24", "ipv4.gateway", "192.168.0.1", "ipv4.dns",
         "192.168.0.1 9.9.9.9"],
        ["nmcli", "connection", "up", "eth"]]
    assert network.commands(net(mode="dhcp"), "eth")[0][4:6] == ["ipv4.method", "auto"]


@pytest.fixture
def nmcli(tmp_path, monkeypatch):
    """NetworkManager is not on this machine: an `nmcli` on PATH that records its
    arguments and answers as told (the OS tool the board names, not the phone's code)."""
    log = tmp_path / "nmcli.log"
    tool = tmp_path / "bin" / "nmcli"
    tool.parent.mkdir()
    tool.write_text(f'#!/bin/sh\necho "$@" >> {log}\n'
                    f'if [ -f {tmp_path}/fail ]; then echo "Error: unknown connection" >&2; '
                    f'exit 10; fi\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    return tmp_path, log


def test_applied_through_nmcli_on_a_board_that_says_so(nmcli):
    where, log = nmcli
    board = {"network": {"apply": "nmcli", "connection": "desk"}}
    static = net(mode="static", ip="192.168.0.200", mask="255.255.255.0")
    assert network.apply(static, board) == "Network applied: 192.168.0.200"
    assert log.read_text().splitlines() == [
        "connection modify desk ipv4.method manual ipv4.addresses 192.168.0.200/24 "
        "ipv4.gateway  ipv4.dns ", "connection up desk"]
    (where / "fail").touch()
    assert network.apply(static, board) == "Network not applied: Error: unknown connection"
    assert "needs IP and Mask" in network.apply(net(mode="static"), board)


def test_on_the_sim_board_the_lcd_says_the_pcs_network_is_left_alone(tmp_path):
    """System setting > Advanced setting > Network: Type static, IP, Mask, Submit changes."""
    rig = build(data_dir=tmp_path)
    rig.walk("System setting").press("2", "ok")  # Advanced setting (password empty)
    rig.press(str(rig.state.menu[-1].items.index("Network") + 1))
    assert rig.state.menu[-1].title == "Network" and "2 Type dhcp" in rig.lcd
    rig.press("2", "2")                                  # Type: static
    rig.press("3", *"192*168*0*200", "ok")               # IP: * is the dot
    rig.press("4", *"255*255*255*0", "ok")
    assert rig.settings.network.mode == "dhcp"           # nothing before Submit changes
    rig.press("9")                                       # Submit changes
    assert rig.settings.network.ip == "192.168.0.200"
    assert rig.state.notice == ("Network saved; this board leaves the OS network alone "
                                "(the sim board uses the PC's)")
