"""The provider registry: names, settings from env / secrets.toml, clear sentences when unconfigured."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from core.providers import registry
from core.providers.base import OutboundMessage
from core.providers.simulator import SimulatorProvider
from core.providers.twilio import TwilioProvider
from core.providers.whatsapp_cloud import WhatsAppCloudProvider
from tests.fakes.graph_server import FakeGraph
from tests.fakes.twilio_server import FakeTwilio


def test_the_registry_names_three_providers():
    assert set(registry.PROVIDERS) == {"simulator", "twilio", "whatsapp_cloud"}


def test_unknown_provider_is_a_sentence():
    with pytest.raises(ValidationError, match="Unknown provider “carrier-pigeon”"):
        registry.build_provider("carrier-pigeon", {})
    with pytest.raises(ValidationError):
        registry.provider_settings_from_env("carrier-pigeon", {})


def test_twilio_from_environment():
    env = {
        "PARLEY_TWILIO_ACCOUNT_SID": "AC1",
        "PARLEY_TWILIO_AUTH_TOKEN": "tok",
        "PARLEY_TWILIO_BASE_URL": "http://127.0.0.1:9",
        "PARLEY_TWILIO_API_KEY_SID": " ",
        "OTHER": "x",
    }
    settings = registry.provider_settings_from_env("twilio", env)
    assert settings == {"account_sid": "AC1", "auth_token": "tok", "base_url": "http://127.0.0.1:9"}
    provider = registry.build_provider("twilio", settings)
    assert isinstance(provider, TwilioProvider)
    assert provider.auth == ("AC1", "tok") and provider.base_url == "http://127.0.0.1:9"


def test_twilio_missing_credentials_sentence():
    with pytest.raises(ValidationError) as info:
        registry.build_provider("twilio", registry.provider_settings_from_env("twilio", {}))
    assert str(info.value) == ("Twilio is not configured: set PARLEY_TWILIO_ACCOUNT_SID and PARLEY_TWILIO_AUTH_TOKEN.")
    with pytest.raises(ValidationError):
        registry.build_provider("twilio", {"account_sid": "AC1"})


def test_twilio_with_an_api_key_only():
    provider = registry.build_provider("twilio", {"account_sid": "AC1", "api_key_sid": "SK1", "api_key_secret": "s"})
    assert provider.auth == ("SK1", "s")
    assert provider.auth_token is None  # so webhooks cannot be verified: all are refused


def test_secrets_sections_and_env_precedence():
    secrets = {
        "twilio": {"account_sid": "ACfile", "auth_token": "file-token"},
        "whatsapp": {
            "token": "wa-token",
            "app_secret": "wa-secret",
            "verify_token": "wa-verify",
            "phone_number_id": 1065,
        },
    }
    env = {"PARLEY_TWILIO_AUTH_TOKEN": "env-token"}
    assert registry.provider_settings_from_env("twilio", env, secrets) == {
        "account_sid": "ACfile",
        "auth_token": "env-token",
    }
    wa = registry.provider_settings_from_env("whatsapp_cloud", {}, secrets)
    assert wa == {
        "access_token": "wa-token",
        "app_secret": "wa-secret",
        "verify_token": "wa-verify",
        "phone_number_id": 1065,
    }
    provider = registry.build_provider("whatsapp_cloud", wa)
    assert isinstance(provider, WhatsAppCloudProvider) and provider.phone_number_id == "1065"


def test_flat_secrets_are_read_too():
    secrets = {"PARLEY_WHATSAPP_TOKEN": "t", "PARLEY_WHATSAPP_APP_SECRET": "s", "PARLEY_WHATSAPP_VERIFY_TOKEN": "v"}
    assert registry.provider_settings_from_env("whatsapp_cloud", {}, secrets) == {
        "access_token": "t",
        "app_secret": "s",
        "verify_token": "v",
    }


def test_whatsapp_missing_credentials_names_them():
    with pytest.raises(ValidationError) as info:
        registry.build_provider("whatsapp_cloud", {"access_token": "t"})
    assert str(info.value) == (
        "WhatsApp Cloud API is not configured: set PARLEY_WHATSAPP_APP_SECRET and PARLEY_WHATSAPP_VERIFY_TOKEN."
    )


def test_simulator_needs_url_and_secret():
    with pytest.raises(ValidationError):
        registry.build_provider("simulator", {})
    sim = registry.build_provider(
        "simulator", {"webhook_url": "http://127.0.0.1:1/w", "secret": b"k", "demo_replies": True}
    )
    try:
        assert isinstance(sim, SimulatorProvider) and sim.demo_replies and sim.alive
    finally:
        sim.close()


def test_providers_built_from_env_talk_to_the_fakes():
    msg = OutboundMessage(1, "whatsapp", "+14155550199", "+14158675309", body="hi")
    with FakeTwilio() as tw, FakeGraph() as graph:
        env = {
            "PARLEY_TWILIO_ACCOUNT_SID": tw.account_sid,
            "PARLEY_TWILIO_AUTH_TOKEN": tw.auth_token,
            "PARLEY_TWILIO_BASE_URL": tw.url,
            "PARLEY_WHATSAPP_TOKEN": graph.access_token,
            "PARLEY_WHATSAPP_APP_SECRET": "s",
            "PARLEY_WHATSAPP_VERIFY_TOKEN": "v",
            "PARLEY_WHATSAPP_PHONE_NUMBER_ID": "123",
            "PARLEY_WHATSAPP_BASE_URL": graph.url,
        }
        twilio = registry.build_provider("twilio", registry.provider_settings_from_env("twilio", env))
        cloud = registry.build_provider("whatsapp_cloud", registry.provider_settings_from_env("whatsapp_cloud", env))
        assert twilio.send(msg).provider_message_id.startswith("SM")
        assert cloud.send(msg).provider_message_id.startswith("wamid.")
        assert graph.sends[0].path == "/v21.0/123/messages"
