"""Migrations after the first three, one module each: ``m<NNN>_<name>.py``.

Each module defines ``VERSION`` (its number), ``NAME`` and either ``SQL``
(statements separated by ``;``) or ``apply(tx)`` (for data work such as a
backfill), or both (``SQL`` runs first). ``core.schema`` finds them here,
applies the missing ones in order, each in its own transaction, and refuses
a database newer than the newest one. One file per migration keeps work on
different features from editing the same list.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    apply: Callable[[Any], None] | None


def discovered() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("m"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(Migration(module.VERSION, module.NAME, getattr(module, "SQL", ""), getattr(module, "apply", None)))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {sorted(versions)}")
    return sorted(found, key=lambda m: m.version)
