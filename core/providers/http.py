"""Shared plumbing for the HTTP providers.

- ``make_session``: one pooled ``requests.Session`` per provider.
- ``call``: ONE attempt at an HTTP request, with every failure turned into a
  ``ProviderError``. A request that never reached the provider (refused or
  timed-out connection) and 429/5xx answers are retryable (the dispatcher
  owns the backoff loop); a request that left but got no usable answer (read
  timeout, connection cut mid-answer) has an *unknown outcome* unless it is
  idempotent (GET), and so has a gateway's 502/504 where the provider can
  be asked afterwards (``unknown_statuses``); other 4xx are final with the provider's own code and
  message. The connect timeout is short (a provider that cannot be reached
  fails fast and safely); the read timeout is the provider's own.
- ``fetch_allowed``: media downloads only from the provider's own hosts
  (checked on every redirect), within a size and a time limit for the whole
  download, enforced however slowly the bytes trickle in.
- Small parsers shared by the providers: E.164 numbers, timestamps,
  ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from core import phones
from core.providers.base import ProviderError

POOL_SIZE = 32
CONNECT_TIMEOUT = 2.0  # seconds: a provider that does not accept a connection by then is down (safe to retry)
READ_TIMEOUT = 10.0  # seconds: after that the request's outcome is unknown
DEFAULT_TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)
MAX_MEDIA_BYTES = 110_000_000  # WhatsApp documents may be 100 MB
MEDIA_SECONDS = 60.0  # a whole media download, however slowly the bytes trickle in
MAX_REDIRECTS = 3
USER_AGENT = "Parley/1.0 (+team inbox)"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})

# Reads a provider's error body: (code, message) or (None, None).
ErrorReader = Callable[[requests.Response], "tuple[str | None, str | None]"]


class ProviderSession(requests.Session):
    """A ``requests.Session`` that reads the environment's proxy and CA bundle settings once per
    host instead of on every request.

    requests looks them up per request (every proxy variable, the no-proxy list, the CA bundle
    variables: 0.1-0.3 ms each time, about a third of what a send cost the dispatcher's threads,
    bench/bench_dispatch.py). They depend only on the scheme and host of the URL and on the
    request's own settings, and the environment is read at start-up like every other setting, so
    the answer is kept per (scheme, host, settings).
    """

    MAX_KEPT = 256  # hosts: a provider talks to a few; media downloads may add some

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple, dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream, verify, cert)
        try:
            found = self._environment.get(key)
        except TypeError:  # an unhashable setting (a list of certs): ask requests every time
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if found is None:
            found = super().merge_environment_settings(url, dict(proxies or {}), stream, verify, cert)
            if len(self._environment) >= self.MAX_KEPT:
                self._environment.clear()
            self._environment[key] = found
        return {**found, "proxies": dict(found["proxies"])}


def make_session(pool_size: int = POOL_SIZE, *, trust_env: bool = True) -> requests.Session:
    """A session with a connection pool sized for the dispatcher's threads.

    urllib3's own retries are off: a provider call is exactly one attempt.
    ``trust_env=False`` ignores proxy variables (the simulator talks to loopback).
    """
    session = ProviderSession()
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
    unknown_statuses: frozenset[int] = frozenset(),
    **kwargs,
) -> requests.Response:
    """Make one request; return the 2xx/3xx response or raise ``ProviderError``.

    ``unknown_statuses``: answers that leave the outcome unknown for a request that is not
    idempotent, as a timeout does (a gateway's 502/504: the API behind it may have acted). Only a
    provider that can be asked afterwards passes them; for one that cannot, retrying is the
    lesser harm."""
    idempotent = method.upper() in IDEMPOTENT
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.ConnectTimeout as exc:  # never reached the provider: safe to resend
        raise ProviderError(
            f"Could not connect to {provider} in time ({_short(exc)}).", retryable=True, code="connection"
        ) from exc
    except requests.Timeout as exc:  # sent but unanswered: the provider may have acted on it
        raise ProviderError(
            f"{provider} did not answer in time ({_short(exc)}).",
            retryable=idempotent,
            outcome_unknown=not idempotent,
            code="timeout",
        ) from exc
    except requests.ConnectionError as exc:
        if never_connected(exc):  # refused, unresolvable, unreachable: nothing was sent
            raise ProviderError(
                f"Could not connect to {provider} ({_short(exc)}).", retryable=True, code="connection"
            ) from exc
        raise ProviderError(  # the connection broke after the request may have left
            f"The connection to {provider} broke off ({_short(exc)}).",
            retryable=idempotent,
            outcome_unknown=not idempotent,
            code="connection",
        ) from exc
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
        requests.exceptions.InvalidHeader,
        requests.exceptions.URLRequired,
    ) as exc:  # retrying cannot help
        raise ProviderError(f"Request to {provider} could not be made: {_short(exc)}", retryable=False) from exc
    except requests.RequestException as exc:  # an answer cut short, a decoding error...: it may have been acted on
        raise ProviderError(
            f"Talking to {provider} failed ({_short(exc)}).", retryable=idempotent, outcome_unknown=not idempotent
        ) from exc
    if response.status_code >= 400:
        error = error_from_response(response, provider=provider, read_error=read_error, retryable_codes=retryable_codes)
        if response.status_code in unknown_statuses and not idempotent:
            raise ProviderError(
                f"{error.message} It may have been sent.",
                retryable=False,
                outcome_unknown=True,
                code=error.code,
                http_status=error.http_status,
            )
        raise error
    return response


def never_connected(exc: BaseException) -> bool:
    """True when a ``requests.ConnectionError`` happened before any byte of the request left:
    urllib3 wraps the refusal (or failed name lookup) in ``NewConnectionError``."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)):
            return True
        stack += [a for a in getattr(item, "args", ()) if isinstance(a, BaseException)]
        stack += [getattr(item, "reason", None), item.__cause__, item.__context__]
    return False


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


MEDIA_CHUNK = 16 * 1024  # read at a time: the time limit is checked between reads


class _Deadline:
    """Cuts a streamed response's connection when its time is up, however the bytes arrive.

    Checking the clock between chunks is not enough: a read waits until a whole chunk has come
    (urllib3 reads on until it has the bytes asked for), and the socket's read timeout starts
    again with every byte, so a server that sends one byte a second never reaches either. At the
    deadline a timer shuts the socket down, which ends a read blocked on it at once."""

    def __init__(self, response: requests.Response, deadline: float) -> None:
        self.fired = False
        self._response = response
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        for sock in _sockets_of(self._response):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing is waiting on it

    def cancel(self) -> None:
        self._timer.cancel()


def _sockets_of(response: requests.Response) -> list[socket.socket]:
    """The socket a streamed response reads from. urllib3 keeps it on the connection, except when
    the answer ends with the connection (no length: ``Connection: close``), where http.client has
    let the connection go and only its response's file still holds the socket."""
    raw = response.raw
    found = [getattr(getattr(raw, "connection", None), "sock", None)]
    body = getattr(getattr(raw, "_fp", None), "fp", None)  # http.client's buffered socket file
    found.append(getattr(getattr(body, "raw", None), "_sock", None))
    return [sock for sock in found if isinstance(sock, socket.socket)]


def read_limited(
    response: requests.Response,
    limit: int = MAX_MEDIA_BYTES,
    *,
    provider: str,
    seconds: float = MEDIA_SECONDS,
    deadline: float | None = None,
) -> bytes:
    """The body of a streamed response, refusing more than ``limit`` bytes or ``seconds`` in all
    (or past ``deadline``, a ``time.monotonic()`` value, when given), however slowly it comes."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        response.close()
        raise ProviderError(f"Media from {provider} is larger than {limit / 1_000_000:g} MB.", retryable=False)
    too_slow = ProviderError(f"Media from {provider} took longer than {seconds:g} s to download.", retryable=True)
    deadline = time.monotonic() + seconds if deadline is None else deadline
    watch = _Deadline(response, deadline)
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(MEDIA_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ProviderError(f"Media from {provider} is larger than {limit / 1_000_000:g} MB.", retryable=False)
            if watch.fired or time.monotonic() > deadline:
                raise too_slow
            chunks.append(chunk)
    except (requests.RequestException, OSError) as exc:
        if watch.fired:
            raise too_slow from exc
        raise ProviderError(f"Media download from {provider} broke off ({_short(exc)}).", retryable=True) from exc
    finally:
        watch.cancel()
        response.close()
    if watch.fired:  # the cut can look like the end of a body that has no length
        raise too_slow
    return b"".join(chunks)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, the default port left out."""
    parts = urlsplit(url)
    scheme, host = (parts.scheme or "").lower(), (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return ""
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def host_allowed(url: str, allowed: Iterable[str]) -> bool:
    """Is ``url`` on one of the ``allowed`` origins? An entry is ``scheme://host[:port]``; the host
    may start with ``*.`` for any subdomain (``https://*.twiliocdn.com``)."""
    here = origin(url)
    if not here:
        return False
    for entry in allowed:
        scheme, _, rest = entry.strip().lower().partition("://")
        if rest.startswith("*."):
            suffix = origin(f"{scheme}://{rest[2:]}").partition("://")[2]
            host_port = here.partition("://")[2]
            if here.startswith(scheme + "://") and host_port.endswith("." + suffix):
                return True
        elif here == origin(entry.strip()):
            return True
    return False


def fetch_allowed(
    session: requests.Session,
    url: str,
    *,
    provider: str,
    allowed: Iterable[str],
    auth_for: Callable[[str], dict] = lambda _url: {},
    timeout=DEFAULT_TIMEOUT,
    read_error: ErrorReader | None = None,
    limit: int = MAX_MEDIA_BYTES,
    seconds: float = MEDIA_SECONDS,
) -> bytes:
    """GET ``url`` and its redirects, each only from an ``allowed`` origin, within the limits.

    A webhook names the URL, so without this check a signed (or forged, where a
    signature leaks) payload could make Parley fetch its own health page or a
    host inside the network and keep the answer as an attachment.
    ``auth_for(url)`` gives the extra request arguments (credentials) for a URL.
    """
    allowed = tuple(allowed)
    deadline = time.monotonic() + seconds  # for the whole fetch: every redirect and the body
    connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    for _ in range(MAX_REDIRECTS + 1):
        if not host_allowed(url, allowed):
            raise ProviderError(
                f"The attachment is not on {provider}'s media servers ({origin(url) or 'no host'}), so it was not "
                "downloaded.",
                retryable=False,
                code="media_host",
            )
        response = call(
            session,
            "GET",
            url,
            provider=provider,
            timeout=(connect_timeout, _within(read_timeout, deadline)),
            read_error=read_error,
            allow_redirects=False,
            stream=True,
            **auth_for(url),
        )
        if response.is_redirect and response.headers.get("Location"):
            location = urljoin(url, response.headers["Location"])
            response.close()
            url = location
            continue
        return read_limited(response, limit, provider=provider, seconds=seconds, deadline=deadline)
    raise ProviderError(f"The attachment from {provider} redirected too many times.", retryable=False)


def _within(read_timeout: float | None, deadline: float) -> float:
    """A socket read timeout that does not run past ``deadline`` (at least a moment, to fail cleanly)."""
    left = max(0.05, deadline - time.monotonic())
    return left if read_timeout is None else min(float(read_timeout), left)


def same_secret_text(expected: str, given: str) -> bool:
    """Whether a signature (or hash) ``given`` in a request equals ``expected``, in constant time.

    ``hmac.compare_digest`` refuses two ``str`` with a non-ASCII character (TypeError), and a
    header or query value is whatever the caller sent: a forged "sha256=é" was answered 500 where
    every other bad signature gets 403. Compared as UTF-8 bytes (lone surrogates kept as they are),
    such a value is simply not equal."""
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# ---- numbers and times ------------------------------------------------------------------------


def e164(raw: str | None, region: str = "US") -> str | None:
    """E.164 form of a provider's number (``whatsapp:`` prefix and a missing '+' accepted), or None.

    The project's one parser (``core.phones``, built on ``phonenumbers``): a number it
    rejects is rejected here too."""
    return phones.to_e164(raw, region)


def international_e164(raw: str | None) -> str | None:
    """E.164 form of a number that always carries its country code, '+' or not (Meta's ``from``,
    ``wa_id``, ``display_phone_number``: ``6598765432`` is Singapore, never a US number), or None."""
    return phones.international_to_e164(raw)


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
