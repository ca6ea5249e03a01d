"""The audit log: who did what, when, to what (admins read it)."""

from __future__ import annotations

import json
from typing import Any

from core import clock
from core.db import Transaction


def record(
    tx: Transaction, actor_id: int | None, action: str, object_type: str, object_id: int | None, **detail: Any
) -> None:
    tx.execute(
        "INSERT INTO audit_log (occurred_at, actor_id, action, object_type, object_id, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [clock.utcnow(), actor_id, action, object_type, object_id, json.dumps(detail, default=str)],
    )
