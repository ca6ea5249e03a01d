"""Shared plumbing for the HTTP providers.

- ``make_session``: one pooled ``requests.Session`` per provider.
- ``call``: ONE attempt at an HTTP request, with every failure turned into a
  ``ProviderError``: 429 and 5xx, timeouts and connection errors are
  retryable (the dispatcher owns the backoff loop); other 4xx are final with
  the provider's own code and message.
- Small parsers shared by the providers: E.164 numbers, timestamps,
  ``Retry-After``, and a bounded body read.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter

from core.providers.base import ProviderError

POOL_SIZE = 32
DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds
MAX_MEDIA_BYTES = 110_000_000  # WhatsApp documents may be 100 MB
USER_AGENT = "Parley/1.0 (+team inbox)"

# Reads a provider's error body: (code, message) or (None, None).
ErrorReader = Callable[[requests.Response], "tuple[str | None, str | None]"]


def make_session(pool_size: int = POOL_SIZE, *, trust_env: bool = True) -> requests.Session:
    """A session with a connection pool sized for the dispatcher's threads.

    urllib3's own retries are off: a provider call is exactly one attempt.
    ``trust_env=False`` ignores proxy variables (the simulator talks to loopback).
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0, pool_block=False)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.trust_env = trust_env
    return session


def call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    provider: str,
    timeout=DEFAULT_TIMEOUT,
    read_error: ErrorReader | None = None,
    retryable_codes: frozenset[str] = frozenset(),
    **kwargs,
) -> requests.Response:
    """Make one request; return the 2xx/3xx response or raise ``ProviderError``."""
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.ConnectTimeout as exc:  # never reached the provider: safe to resend
        raise ProviderError(
            f"Could not connect to {provider} in time ({_short(exc)}).", retryable=True, code="connection"
        ) from exc
    except requests.Timeout as exc:  # sent but unanswered: the provider may have acted on it
        raise ProviderError(
            f"{provider} did not answer in time ({_short(exc)}).", retryable=True, code="timeout"
        ) from exc
    except requests.ConnectionError as exc:
        raise ProviderError(
            f"Could not connect to {provider} ({_short(exc)}).", retryable=True, code="connection"
        ) from exc
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
        requests.exceptions.InvalidHeader,
        requests.exceptions.URLRequired,
    ) as exc:  # retrying cannot help
        raise ProviderError(f"Request to {provider} could not be made: {_short(exc)}", retryable=False) from exc
    except requests.RequestException as exc:  # a body cut short, a decoding error...: transient
        raise ProviderError(f"Talking to {provider} failed ({_short(exc)}).", retryable=True) from exc
    if response.status_code >= 400:
        raise error_from_response(response, provider=provider, read_error=read_error, retryable_codes=retryable_codes)
    return response


def error_from_response(
    response: requests.Response,
    *,
    provider: str,
    read_error: ErrorReader | None = None,
    retryable_codes: frozenset[str] = frozenset(),
) -> ProviderError:
    status = response.status_code
    code, message = (None, None)
    if read_error is not None:
        try:
            code, message = read_error(response)
        except ValueError:
            code, message = None, None
    if not message:
        text = (response.text or "").strip()
        message = f"{provider} answered HTTP {status}" + (f": {text[:200]}" if text and status < 500 else ".")
    retryable = status == 429 or status >= 500 or (code is not None and code in retryable_codes)
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if retryable else None
    return ProviderError(message, retryable=retryable, code=code, http_status=status, retry_after=retry_after)


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN guard


def read_limited(response: requests.Response, limit: int = MAX_MEDIA_BYTES, *, provider: str) -> bytes:
    """The body of a streamed response, refusing more than ``limit`` bytes."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise ProviderError(f"Media from {provider} is larger than {limit // 1_000_000} MB.", retryable=False)
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise ProviderError(f"Media download from {provider} broke off ({_short(exc)}).", retryable=True) from exc
    finally:
        response.close()
    return b"".join(chunks)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# ---- numbers and times ------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"^\+?[1-9]\d{6,14}$")


def e164(raw: str | None, region: str = "US") -> str | None:
    """E.164 form of a provider's number (``whatsapp:`` prefix and missing '+' accepted), or None."""
    if raw is None:
        return None
    text = str(raw).strip()
    if text[:9].lower() == "whatsapp:":
        text = text[9:].strip()
    if not text:
        return None
    try:
        from core.phones import to_e164  # the project's parser (phonenumbers), when present
    except ImportError:  # pragma: no cover - minimal fallback
        to_e164 = None
    if to_e164 is not None:
        found = to_e164(text, region)
        if found:
            return found
    digits = re.sub(r"[\s().-]", "", text)
    if _PLAIN_NUMBER.match(digits) and (digits.startswith("+") or len(digits) > 10):
        return digits if digits.startswith("+") else "+" + digits
    return None


def from_epoch(value) -> dt.datetime | None:
    """Naive UTC from epoch seconds (int or numeric string)."""
    try:
        return dt.datetime.fromtimestamp(int(float(value)), dt.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_iso(value) -> dt.datetime | None:
    """Naive UTC from an ISO-8601 string (naive strings are taken as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def utcnow() -> dt.datetime:
    from core import clock

    return clock.utcnow()
