"""The running Parley: configuration, the database owner, workers.

``app.py``'s lifespan calls ``start(workers=True)`` once per process and
``stop()`` on shutdown. The page script calls ``current()``, which returns
the same objects (and, under AppTest or a plain script run, starts the
store without background workers).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core import events, prewarm, schema
from core.db import Database
from core.errors import ParleyError
from core.live import ChangeFeed
from core.media_store import MediaStore
from core.page_writes import PageWrites

log = logging.getLogger("parley")

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Config:
    db_path: Path
    media_dir: Path
    demo: bool
    secret_key: bytes
    public_url: str | None  # where providers reach us (webhooks, media); None = not public
    port: int
    simulator_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # Behind a reverse proxy: take sign-in source addresses from X-Forwarded-For (PARLEY_TRUST_PROXY=1).
    trust_proxy: bool = False
    # /healthz details for monitoring on this machine without a session (PARLEY_HEALTH_TOKEN).
    health_token: str | None = None
    # Routes only benchmarks use (/noop): off unless a bench turns them on (PARLEY_BENCH_ROUTES=1).
    bench_routes: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        db_path = Path(env.get("PARLEY_DB", ROOT / "data" / "parley.duckdb"))
        media_dir = Path(env.get("PARLEY_MEDIA_DIR", db_path.parent / "media"))
        demo = _flag(env.get("PARLEY_DEMO"), True)
        port = int(env.get("PARLEY_PORT") or env.get("STREAMLIT_SERVER_PORT") or _streamlit_port())
        return cls(
            db_path=db_path,
            media_dir=media_dir,
            demo=demo,
            secret_key=_secret_key(env, db_path.parent),
            public_url=(env.get("PARLEY_PUBLIC_URL") or "").rstrip("/") or None,
            port=port,
            trust_proxy=_flag(env.get("PARLEY_TRUST_PROXY"), False),
            health_token=(env.get("PARLEY_HEALTH_TOKEN") or "").strip() or None,
            bench_routes=_flag(env.get("PARLEY_BENCH_ROUTES"), False),
        )

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _flag(value: str | None, default: bool) -> bool:
    """An on/off environment setting: 0/false/no/off are off, anything else is on, unset is ``default``."""
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _streamlit_port() -> int:
    """The port Streamlit serves on (``--server.port`` included), for loopback calls."""
    try:
        from streamlit import config as st_config

        return int(st_config.get_option("server.port") or 8501)
    except Exception:  # Streamlit not configured (tests, scripts)
        return 8501


def _secret_key(env: dict[str, str], data_dir: Path) -> bytes:
    """Cookie-signing key: from the environment, else a file made once per install."""
    if env.get("PARLEY_SECRET_KEY"):
        return env["PARLEY_SECRET_KEY"].encode()
    path = data_dir / "secret.key"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class Worker(Protocol):
    name: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def status(self) -> dict[str, Any]: ...


@dataclass
class Runtime:
    config: Config
    db: Database
    media: MediaStore
    feed: ChangeFeed
    workers: list[Worker] = field(default_factory=list)
    services: dict[str, Any] = field(default_factory=dict)
    # Writes a page run asked for and did not wait for (marking read what it drew): core.page_writes.
    page_writes: PageWrites = field(default_factory=PageWrites)

    def health(self) -> dict[str, Any]:
        try:
            version = schema.current_version(self.db)
            db_state = {"ok": True, "schema": version, "path": str(self.config.db_path)}
        except Exception as exc:  # health must answer even when the store does not
            db_state = {"ok": False, "error": str(exc)}
        workers = {w.name: w.status() for w in self.workers}
        ok = db_state["ok"] and all(w.get("alive", False) for w in workers.values())
        health = {"ok": ok, "database": db_state, "workers": workers, "demo": self.config.demo}
        ingest = self.services.get("ingest")
        if ingest is not None:
            from core.ingest_apply import backlog

            c = ingest.committer
            applier = self.services.get("applier")
            health["webhooks"] = {
                "stored": c.committed,
                "commits": c.commits,
                "commit_ms": round(c.commit_seconds / c.commits * 1000, 2) if c.commits else None,
                "applied": applier.applied if applier else None,
                "messages_applied": applier.messages if applier else None,
                "failed_to_apply": applier.failed if applier else None,
            }
            try:  # how far applying lags behind acknowledging (for admins and the admin page)
                health["webhooks"]["backlog"] = backlog(self.db)
            except Exception as exc:
                health["webhooks"]["backlog"] = {"error": str(exc)}
        dispatcher = self.services.get("dispatcher")
        if dispatcher is not None:
            health["delivery"] = dispatcher.status()
            try:  # sends waiting out a provider's trouble, being checked, or left to an agent
                from core.delivery_outcomes import backlog as send_backlog

                health["delivery"]["outbox"] = send_backlog(self.db)
            except Exception as exc:
                health["delivery"]["outbox"] = {"error": str(exc)}
        return health


_current: Runtime | None = None
_lock = threading.RLock()


def start(config: Config | None = None, *, workers: bool = False) -> Runtime:
    """Open the store, migrate, seed, and (for the server) start the workers."""
    global _current
    with _lock:
        if _current is not None:
            if workers and not _current.workers:
                _start_workers(_current)
            return _current
        config = config or Config.from_env()
        db = Database(config.db_path)
        try:
            schema.migrate(db)
            media = MediaStore(config.media_dir)
            _ensure_workspace(db, media, config)
        except BaseException:
            db.close()
            raise
        feed = ChangeFeed()
        db.subscribe(events.EVERY, feed.on_event)
        rt = Runtime(config=config, db=db, media=media, feed=feed)
        _current = rt
        if workers:
            _start_workers(rt)
            prewarm.start_prewarm(db)  # the server: bring the hot tables into memory, in the background
        return rt


def current() -> Runtime:
    return _current if _current is not None else start()


def stop() -> None:
    global _current
    with _lock:
        rt, _current = _current, None
    if rt is None:
        return
    rt.page_writes.close()  # what pages asked for is written before the workers and the store stop
    for worker in reversed(rt.workers):
        try:
            worker.stop()
        except Exception:
            log.exception("worker %s did not stop cleanly", worker.name)
    for service in rt.services.values():
        close = getattr(service, "close", None)
        if close:
            close()
    rt.db.close()


# Fills an empty database with the demo workspace. The generator is not the product and
# lives outside ``core`` (package ``generator``): ``app.py`` hands it over with
# ``use_demo_builder`` so that nothing in ``core`` imports it.
DemoBuilder = Callable[[Database, MediaStore], Any]
_demo_builder: DemoBuilder | None = None


def use_demo_builder(builder: DemoBuilder | None) -> None:
    global _demo_builder
    _demo_builder = builder


def _ensure_workspace(db: Database, media: MediaStore, config: Config) -> None:
    if db.scalar("SELECT count(*) FROM workspace"):
        return
    if config.demo:
        if _demo_builder is None:
            raise ParleyError(
                "This Parley was started without its demo workspace builder; "
                "set PARLEY_DEMO=0 to start an empty workspace."
            )
        log.info("creating the demo workspace in %s", config.db_path)
        _demo_builder(db, media)
    else:
        from core.actions.users import do_create_workspace

        do_create_workspace(db, name="Parley", demo=False)
    from core import settings

    settings.ensure_defaults(db)


def _start_workers(rt: Runtime) -> None:
    from core.engine import build_workers

    rt.workers = build_workers(rt)
    for worker in rt.workers:
        worker.start()
