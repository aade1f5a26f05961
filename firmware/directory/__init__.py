"""The directory's servers: LDAP (ldap.py). The phone books themselves: firmware/phonebooks.py."""
