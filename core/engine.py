"""Wiring of the messaging engine inside the running app.

``ProviderBook`` gives the provider for a sender (sending) or a webhook
route (receiving), and resolves which sender an inbound event is for.
``build_workers`` creates the dispatcher, the release/recovery duties and
the webhook applier, and registers the webhook ingest for the routes.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from core import events
from core.db import Database, Event
from core.errors import ValidationError
from core.providers import registry
from core.providers.base import InboundEvent
from core.workers import LoopWorker

log = logging.getLogger("parley.engine")

# Webhook route name -> provider name.
WEBHOOK_PROVIDERS = {"twilio": "twilio", "whatsapp": "whatsapp_cloud", "simulator": "simulator"}


def simulator_delays(raw: str | None) -> tuple[float, float, float] | None:
    """``"0.3,1.2,3.0"`` → (sent, delivered, read) seconds; None when unset.

    A value that is not three increasing non-negative numbers is refused in one sentence.
    """
    if raw is None or not raw.strip():
        return None
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or values[0] < 0 or not values[0] <= values[1] <= values[2]:
        raise ValidationError(
            f"PARLEY_SIMULATOR_DELAYS must be three increasing numbers of seconds (sent, delivered, read), "
            f"like 0.3,1.2,3.0; it is “{raw}”."
        )
    return values  # type: ignore[return-value]


class ProviderBook:
    def __init__(
        self,
        db: Database,
        *,
        simulator_url: str,
        simulator_secret: bytes,
        demo: bool,
        secrets: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db = db
        self._simulator_url = simulator_url
        self._simulator_secret = simulator_secret
        self._demo = demo
        self._secrets = secrets
        self._env = env
        self._providers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._senders: dict[tuple[str, str], dict[str, Any]] | None = None
        db.subscribe(events.SENDER_CHANGED, self._forget_senders)

    def provider(self, name: str) -> Any:
        with self._lock:
            if name not in self._providers:
                if name == "simulator":
                    settings = {
                        "webhook_url": self._simulator_url,
                        "secret": self._simulator_secret,
                        "demo_replies": self._demo,
                    }
                    # Like a carrier, the simulator fails the odd message (3%); a demo or a browser
                    # test that needs every message through sets PARLEY_SIMULATOR_FAILURE_RATE=0.
                    env = os.environ if self._env is None else self._env
                    for variable, setting in (
                        ("PARLEY_SIMULATOR_FAILURE_RATE", "failure_rate"),
                        ("PARLEY_SIMULATOR_READ_RATE", "read_rate"),  # WhatsApp messages the customer reads
                        # How often a demo customer answers a message; a browser test that counts
                        # unread conversations sets 0 so only the replies it posts arrive.
                        ("PARLEY_SIMULATOR_REPLY_RATE", "reply_rate"),
                    ):
                        if env.get(variable) not in (None, ""):
                            settings[setting] = float(env[variable])
                    # Seconds after a send the carrier reports sent, delivered, read ("0.3,1.2,3.0"): a
                    # browser test that watches 🕓 turn into ✓ and ✓✓ slows the carrier to a person's pace.
                    delays = simulator_delays(env.get("PARLEY_SIMULATOR_DELAYS"))
                    if delays is not None:
                        settings["delays"] = delays
                else:
                    settings = registry.provider_settings_from_env(
                        name, os.environ if self._env is None else self._env, self._secrets
                    )
                self._providers[name] = registry.build_provider(name, settings)
            return self._providers[name]

    def for_sender(self, sender: dict[str, Any]) -> Any:
        return self.provider(sender["provider"])

    def for_webhook(self, route_name: str) -> Any | None:
        name = WEBHOOK_PROVIDERS.get(route_name)
        if name is None:
            return None
        try:
            return self.provider(name)
        except ValidationError:
            return None  # not configured: the route answers 404 and stores nothing

    # ---- which of our senders an inbound event is for -------------------------------------

    def _forget_senders(self, _event: Event) -> None:
        self._senders = None

    def _sender_index(self) -> dict[tuple[str, str], dict[str, Any]]:
        if self._senders is None:
            index = {}
            for row in self.db.dicts("SELECT id, phone, channel, provider, provider_ref, label FROM senders"):
                index[(row["channel"], row["phone"])] = row
                if row["provider_ref"]:
                    index[("ref", row["provider_ref"])] = row
            self._senders = index
        return self._senders

    def sender_for(self, route_name: str, event: InboundEvent) -> dict[str, Any] | None:
        index = self._sender_index()
        if event.to_ref and ("ref", event.to_ref) in index:
            return index[("ref", event.to_ref)]
        if event.to_number:
            return index.get((event.channel, event.to_number))
        return None

    def close(self) -> None:
        for provider in self._providers.values():
            close = getattr(provider, "close", None)
            if close:
                close()


def media_url_for(rt: Any):
    def url(token: str) -> str | None:
        base = rt.config.public_url or rt.config.local_url
        return f"{base}/files/{token}"

    return url


def status_callback_for(rt: Any):
    def url(provider: str) -> str | None:
        if provider == "twilio" and rt.config.public_url:
            return f"{rt.config.public_url}/webhooks/twilio"
        return None

    return url


def retry_policy(env: dict[str, str] | None = None) -> Any:
    """The dispatcher's timings from the environment: ``PARLEY_SEND_RETRY_MINUTES`` (how long
    5xx, 429 and refused connections are retried, default 60) and ``PARLEY_SEND_LOOKUP_SECONDS``
    (how long a provider gets to finish a request whose answer never came before Parley asks it
    whether the message exists, default 30)."""
    import datetime as dt

    from core.delivery_pacing import RetryPolicy

    env = os.environ if env is None else env

    def number(name: str, default: float) -> float:
        raw = (env.get(name) or "").strip()
        try:
            return max(0.0, float(raw)) if raw else default
        except ValueError:
            log.error("%s=%r is not a number; using %s", name, raw, default)
            return default

    return RetryPolicy(
        horizon=dt.timedelta(minutes=number("PARLEY_SEND_RETRY_MINUTES", 60.0)),
        lookup_delay=number("PARLEY_SEND_LOOKUP_SECONDS", RetryPolicy.lookup_delay),
    )


def build_workers(rt: Any) -> list[LoopWorker]:
    from core.delivery import Dispatcher
    from core.ingest import WebhookIngest
    from core.ingest_apply import GATHER_SECONDS, WebhookApplier

    secrets = streamlit_secrets()
    book = ProviderBook(
        rt.db,
        simulator_url=f"{rt.config.local_url}/webhooks/simulator",
        simulator_secret=rt.config.simulator_secret,
        demo=rt.config.demo,
        secrets=secrets,
    )
    dispatcher = Dispatcher(
        rt.db,
        book.for_sender,
        media_url=media_url_for(rt),
        status_callback_url=status_callback_for(rt),
        policy=retry_policy(),
    )
    interrupted = dispatcher.recover()
    if interrupted:
        log.warning("%d sends were in flight at the last stop; they will be looked up at the provider", interrupted)
    applier = WebhookApplier(rt.db, book, rt.media, gather_seconds=GATHER_SECONDS)
    apply_worker = LoopWorker("webhook-applier", applier.step, idle=1.0)
    ingest = WebhookIngest(rt.db, book, public_url=rt.config.public_url, wake_applier=apply_worker.wake)
    dispatch_worker = LoopWorker("dispatcher", dispatcher.pump, idle=0.25, on_stop=dispatcher.close)
    dispatcher.on_done = dispatch_worker.wake  # an outcome is back: record it and claim more

    def wake_dispatcher(_event) -> None:
        dispatch_worker.wake()

    rt.db.subscribe(events.MESSAGE_QUEUED, wake_dispatcher)
    rt.db.subscribe(events.MESSAGE_RETRIED, wake_dispatcher)
    rt.db.subscribe(events.CAMPAIGN_QUEUED, wake_dispatcher)
    rt.db.subscribe(events.CAMPAIGN_RESUMED, wake_dispatcher)
    rt.db.subscribe(events.MESSAGES_RETIMED, wake_dispatcher)
    rt.db.subscribe(events.WEBHOOK_RETRIED, lambda _e: apply_worker.wake())
    rt.services.update(providers=book, ingest=ingest, dispatcher=dispatcher, applier=applier)
    from core import reporting_rollup  # Stats' counts: folds new reporting facts in every few seconds

    rollup_worker = LoopWorker("reporting", lambda: reporting_rollup.worker_step(rt.db), idle=5.0)
    return [dispatch_worker, apply_worker, rollup_worker]


def streamlit_secrets() -> dict[str, Any] | None:
    """Provider credentials from `.streamlit/secrets.toml`, when present."""
    import tomllib
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / ".streamlit" / "secrets.toml"
    if not path.exists():
        return None
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        log.error("cannot read %s: %s", path, exc)
        return None
