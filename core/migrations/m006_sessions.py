"""Sign-in sessions kept in the database, and sign-in attempts by username and source.

A session is one sign-in: the cookie names its row and carries a secret whose
hash is stored here, so signing out, a password reset, disabling the user or
"sign out everywhere" ends it for good (a copied cookie stops working too).
``device_hash`` is the browser's long-lived device cookie, hashed: a browser
that has signed in as a user before is *known* for that user, and a correct
password from it skips the per-account sign-in delay.

``sign_in_attempts`` replaces ``login_attempts`` and ``users.locked_until``:
attempts are throttled by username (existing or not, so the answers reveal no
accounts) and by source address, with delays instead of a lock an attacker
could keep closed on the owner.
"""

VERSION = 6
NAME = "sessions"

SQL = """
CREATE SEQUENCE seq_sessions;
CREATE TABLE sessions (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_sessions'),
    user_id INTEGER NOT NULL,
    token_hash VARCHAR NOT NULL,
    device_hash VARCHAR,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    user_agent VARCHAR,
    source VARCHAR,
    ended_at TIMESTAMP,
    ended_reason VARCHAR
);
CREATE SEQUENCE seq_sign_in_attempts;
CREATE TABLE sign_in_attempts (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_sign_in_attempts'),
    attempted_at TIMESTAMP NOT NULL,
    username VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    user_id INTEGER,
    ok BOOLEAN
);
DROP TABLE login_attempts;
ALTER TABLE users DROP COLUMN locked_until
"""
