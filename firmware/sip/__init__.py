"""SIP on pjsua2: the engine and its thread, accounts, calls, the request gate."""
