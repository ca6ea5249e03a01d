"""Sign-in attempts remember the browser they came from (its device hash, when it sent one).

A browser that has signed in as a user before skips the delays that other
people's failures put on that username and on its address (``core.auth``), so
an attacker cannot keep the owner out. Its own failures must still slow it
down: a stolen laptop holds the owner's device cookie. They are counted by
this column.
"""

VERSION = 26
NAME = "sign_in_device"
SQL = """
ALTER TABLE sign_in_attempts ADD COLUMN device_hash VARCHAR;
"""
