"""The demo workspace a fresh install opens on: Brightside Dental, a small front desk.

A few hundred contacts and conversations from three campaigns, in many
languages, with every delivery status, files, an opted-out customer and an
unverified toll-free sender, so each page has something true to show.
"""

from __future__ import annotations

from core.db import Database
from core.media_store import MediaStore
from generator.write import DEMO_PASSWORD, GenerationReport, Progress, generate_workspace

DEMO_WORKSPACE_NAME = "Brightside Dental"

# (username, password, role label): shown on the sign-in page and in the README.
DEMO_SIGN_INS: list[tuple[str, str, str]] = [
    ("admin", DEMO_PASSWORD, "Admin"),
    ("maria", DEMO_PASSWORD, "Agent"),
    ("james", DEMO_PASSWORD, "Agent"),
    ("aiko", DEMO_PASSWORD, "Agent"),
    ("sam", DEMO_PASSWORD, "Supervisor"),
]


def create_demo_workspace(db: Database, media: MediaStore, *, progress: Progress | None = None) -> GenerationReport:
    """Fill an empty, migrated database with the demo workspace (about a second)."""
    return generate_workspace(
        db,
        media,
        agents=3,
        contacts=500,
        conversations=300,
        messages_per_conversation=(2, 14),
        big_conversation_messages=0,
        campaigns=3,
        seed=7,
        demo_passwords=True,
        demo=True,
        workspace_name=DEMO_WORKSPACE_NAME,
        progress=progress,
    )


def is_demo(db: Database) -> bool:
    """True when this database holds the demo workspace (its sign-ins are public)."""
    return bool(db.scalar("SELECT demo FROM workspace WHERE id = 1"))
