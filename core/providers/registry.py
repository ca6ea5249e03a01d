"""Which providers exist and how each is built from its settings.

``PROVIDERS`` maps a name (the ``senders.provider`` column) to a factory;
adding a provider is one entry. Credentials come from the environment or a
``.streamlit/secrets.toml``-style mapping, never from the database.

Environment (wins over secrets)          secrets.toml
PARLEY_TWILIO_ACCOUNT_SID                [twilio] account_sid
PARLEY_TWILIO_AUTH_TOKEN                 [twilio] auth_token
PARLEY_TWILIO_API_KEY_SID                [twilio] api_key_sid
PARLEY_TWILIO_API_KEY_SECRET             [twilio] api_key_secret
PARLEY_TWILIO_MESSAGING_SERVICE_SID      [twilio] messaging_service_sid
PARLEY_TWILIO_BASE_URL                   [twilio] base_url
PARLEY_TWILIO_MEDIA_HOSTS                [twilio] media_hosts (origins inbound media may come from, comma-separated)
PARLEY_WHATSAPP_TOKEN                    [whatsapp] token (or access_token)
PARLEY_WHATSAPP_APP_SECRET               [whatsapp] app_secret
PARLEY_WHATSAPP_VERIFY_TOKEN             [whatsapp] verify_token
PARLEY_WHATSAPP_PHONE_NUMBER_ID          [whatsapp] phone_number_id
PARLEY_WHATSAPP_BASE_URL                 [whatsapp] base_url
PARLEY_WHATSAPP_API_VERSION              [whatsapp] api_version
PARLEY_WHATSAPP_MEDIA_HOSTS              [whatsapp] media_hosts
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import ValidationError
from core.providers.base import Provider

# provider name -> (secrets section names, {setting: (env variable, secrets keys...)})
ENV_KEYS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "twilio": (
        ("twilio",),
        {
            "account_sid": ("PARLEY_TWILIO_ACCOUNT_SID", "account_sid"),
            "auth_token": ("PARLEY_TWILIO_AUTH_TOKEN", "auth_token"),
            "api_key_sid": ("PARLEY_TWILIO_API_KEY_SID", "api_key_sid", "api_key"),
            "api_key_secret": ("PARLEY_TWILIO_API_KEY_SECRET", "api_key_secret"),
            "messaging_service_sid": ("PARLEY_TWILIO_MESSAGING_SERVICE_SID", "messaging_service_sid"),
            "base_url": ("PARLEY_TWILIO_BASE_URL", "base_url"),
            "media_hosts": ("PARLEY_TWILIO_MEDIA_HOSTS", "media_hosts"),
        },
    ),
    "whatsapp_cloud": (
        ("whatsapp", "whatsapp_cloud"),
        {
            "access_token": ("PARLEY_WHATSAPP_TOKEN", "token", "access_token"),
            "app_secret": ("PARLEY_WHATSAPP_APP_SECRET", "app_secret"),
            "verify_token": ("PARLEY_WHATSAPP_VERIFY_TOKEN", "verify_token"),
            "phone_number_id": ("PARLEY_WHATSAPP_PHONE_NUMBER_ID", "phone_number_id"),
            "base_url": ("PARLEY_WHATSAPP_BASE_URL", "base_url"),
            "api_version": ("PARLEY_WHATSAPP_API_VERSION", "api_version"),
            "media_hosts": ("PARLEY_WHATSAPP_MEDIA_HOSTS", "media_hosts"),
        },
    ),
    "simulator": ((), {}),
}


def _pick(settings: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: settings[k] for k in keys if settings.get(k) not in (None, "")}


def _simulator(settings: Mapping[str, Any]) -> Provider:
    from core.providers.simulator import SimulatorProvider

    if not settings.get("webhook_url") or not settings.get("secret"):
        raise ValidationError("The simulator is not configured: it needs its webhook URL and secret.")
    return SimulatorProvider(
        **_pick(
            settings,
            "webhook_url",
            "secret",
            "demo_replies",
            "rng_seed",
            "delays",
            "failure_rate",
            "reply_rate",
            "read_rate",
            "reply_delay",
            "posters",
            "timeout",
            "media_hosts",
        )
    )


def _twilio(settings: Mapping[str, Any]) -> Provider:
    from core.providers.twilio import TwilioProvider

    has_key = settings.get("api_key_sid") and settings.get("api_key_secret")
    if not settings.get("account_sid") or not (settings.get("auth_token") or has_key):
        raise ValidationError("Twilio is not configured: set PARLEY_TWILIO_ACCOUNT_SID and PARLEY_TWILIO_AUTH_TOKEN.")
    return TwilioProvider(
        **{
            "auth_token": None,
            **_pick(
                settings,
                "account_sid",
                "auth_token",
                "api_key_sid",
                "api_key_secret",
                "base_url",
                "messaging_service_sid",
                "timeout",
                "session",
                "media_hosts",
            ),
        }
    )


def _whatsapp_cloud(settings: Mapping[str, Any]) -> Provider:
    from core.providers.whatsapp_cloud import WhatsAppCloudProvider

    names = {
        "access_token": "PARLEY_WHATSAPP_TOKEN",
        "app_secret": "PARLEY_WHATSAPP_APP_SECRET",
        "verify_token": "PARLEY_WHATSAPP_VERIFY_TOKEN",
    }
    missing = [env for key, env in names.items() if not settings.get(key)]
    if missing:
        listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        raise ValidationError(f"WhatsApp Cloud API is not configured: set {listed}.")
    return WhatsAppCloudProvider(
        **_pick(
            settings,
            "access_token",
            "app_secret",
            "verify_token",
            "phone_number_id",
            "base_url",
            "api_version",
            "timeout",
            "session",
            "media_hosts",
        )
    )


PROVIDERS: dict[str, Callable[[Mapping[str, Any]], Provider]] = {
    "simulator": _simulator,
    "twilio": _twilio,
    "whatsapp_cloud": _whatsapp_cloud,
}


def build_provider(name: str, settings: Mapping[str, Any]) -> Provider:
    """A ready provider, or ``ValidationError`` with a sentence saying what is missing."""
    factory = PROVIDERS.get(name)
    if factory is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ValidationError(f"Unknown provider “{name}”: use one of {known}.")
    return factory(settings)


def provider_settings_from_env(
    name: str, env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Settings for ``build_provider`` from environment variables, then ``secrets`` sections."""
    if name not in PROVIDERS:
        raise ValidationError(f"Unknown provider “{name}”: use one of {', '.join(sorted(PROVIDERS))}.")
    env = os.environ if env is None else env
    sections, keys = ENV_KEYS.get(name, ((), {}))
    found_sections = [s for s in (_section(secrets, n) for n in sections) if s]
    settings: dict[str, Any] = {}
    for setting, (env_name, *secret_keys) in keys.items():
        value = _clean(env.get(env_name))
        if value is None and secrets:
            value = _clean(secrets.get(env_name))  # flat secrets.toml
        for section in found_sections:
            for key in secret_keys:
                if value is None:
                    value = _clean(section.get(key)) or _clean(section.get(key.upper()))
        if value is not None:
            settings[setting] = value
    return settings


def _section(secrets: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    if not secrets:
        return None
    section = secrets.get(name)
    return section if isinstance(section, Mapping) else None


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value
