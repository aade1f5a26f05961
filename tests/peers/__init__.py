"""Real SIP peers for deskphone's tests: Kamailio, SIPp, baresip (all on 127.0.0.1).

See tests/peers/README.md.  Every peer picks free ports, logs into its workdir, and is stopped
by PID in teardown; waits are bounded and raise PeerError with the peer's log tail.
"""

from ._process import PeerError
from .baresip import Baresip
from .kamailio import Kamailio
from .ports import HeldPort, free_port, free_port_block
from .sipp import Sipp, message_rtds, parse_messages, rtt_samples

__all__ = ["Baresip", "HeldPort", "Kamailio", "PeerError", "Sipp", "free_port", "free_port_block",
           "message_rtds", "parse_messages", "rtt_samples"]
