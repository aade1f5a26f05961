"""deskphone firmware: the phone itself (event loop, call state machine, SIP, settings)."""
