"""Fakes for the fast in-process suite: SIP (FakeSip), time (FakeClock), and `build`, which
wires the real call logic on them as firmware/app.py does. See tests/fakes/rig.py."""
from tests.fakes.clock import FakeClock
from tests.fakes.rig import Rig, build
from tests.fakes.sip import FakeSip

__all__ = ["FakeClock", "FakeSip", "Rig", "build"]
