"""Webhook delivery: signed JSON POSTs with timeouts, retries, backoff and dead letters.

How a delivery goes
-------------------
:class:`WebhookDispatcher` keeps, for every configured webhook, its own bounded queue and its
own ``concurrency`` worker tasks. ``await dispatcher.submit(alert)`` renders the body once per
format and puts one delivery on the queue of each webhook named in ``alert.notify``; it never
waits for the network, so a slow or dead receiver holds back neither the stream nor the other
webhooks. A worker POSTs the body with fresh signature headers (:mod:`alerts.signing`) and
classifies the answer (:func:`classify_status`):

* ``2xx`` — delivered;
* ``5xx``, ``408``, ``429``, a timeout or a connection error — retried after
  :meth:`RetryPolicy.delay` (exponential backoff with full jitter, capped at ``backoff_max_s``;
  a ``Retry-After`` on ``429``/``503`` is honoured, capped likewise), up to ``max_attempts``;
* any other status (other ``4xx``; ``3xx``, because redirects are not followed: a signed body is
  never re-sent to a host the configuration did not name) — a permanent failure, not retried.

Every delivery ends in exactly one :class:`DeliveryOutcome` given to ``on_outcome``. Every
delivery that did not succeed also becomes a :class:`~schemas.deadletter.DeadLetter` (stage
``deliver``, reason ``delivery_failed``, original = the request body, error naming the webhook,
the attempts, the last status and the last error) given to ``on_dead_letter``; the streaming
worker publishes those to ``alerts.deadletter``. Nothing is dropped without a dead letter and a
counter in :attr:`WebhookDispatcher.metrics`.

Queue-full policy
-----------------
When a webhook's queue already holds ``queue_size`` deliveries (its receiver is down or much
slower than the alert rate), ``submit`` does **not** wait: the new delivery to that webhook goes
straight to the dead letters with the error ``queue full``, counted in ``queue_full`` and
``failed``. The other webhooks of the same alert are unaffected. Waiting instead would let one
dead receiver stall the stream for everyone; the dead letters keep the payload for a replay.

Shutdown
--------
:meth:`WebhookDispatcher.close` stops accepting alerts (later submissions are dead-lettered
with ``dispatcher closed``), lets queued and in-flight deliveries finish within
``drain_timeout_s``, then interrupts what is left and dead-letters it. A delivery interrupted
mid-request may still have reached the receiver, hence the next point.

Idempotency
-----------
The dispatcher remembers, in a bounded LRU, the events it delivered (alert id, kind, webhook id
and ``len(also_reported_by)``) and the ones queued or in flight, so the same event submitted twice
is sent once. That memory does not survive a restart: after one, an event may be sent again
(at-least-once). Receivers de-duplicate on ``X-Wirewatch-Alert-Id`` with ``X-Wirewatch-Event``,
or on ``Idempotency-Key`` (see :func:`alerts.signing.event_key`).

Events are not ordered: with ``concurrency > 1`` or after a retry, an update can arrive before
its alert; receivers should rely on ``kind`` and ``also_reported_by``, not on arrival order.
"""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC
from enum import StrEnum
from types import TracebackType
from typing import Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr

from alerts.payloads import render
from alerts.signing import build_headers
from schemas.alerts import Alert, AlertKind
from schemas.config import Webhook
from schemas.deadletter import DeadLetter, Reason

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
DEFAULT_QUEUE_SIZE = 1000
DEFAULT_DEDUP_CAPACITY = 100_000
DEFAULT_DRAIN_TIMEOUT_S = 10.0
RETRY_AFTER_STATUSES = frozenset({429, 503})
_RETRYABLE_4XX = frozenset({408, 429})
_ERROR_BODY_BYTES = 200
_MAX_EXPONENT = 62


class Verdict(StrEnum):
    """What an HTTP answer means for a delivery."""

    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"


def classify_status(status: int) -> Verdict:
    """Classify a receiver's HTTP status.

    ``2xx`` is delivered; ``5xx``, ``408`` and ``429`` are worth retrying; everything else is a
    permanent failure: other ``4xx`` say the request itself is wrong (a retry would fail the
    same way), and ``1xx``/``3xx`` are not a delivery (redirects are deliberately not followed).
    """
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status >= 500 or status in _RETRYABLE_4XX:
        return Verdict.RETRY
    return Verdict.PERMANENT


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or None when absent or unreadable.

    Args:
        value: the header, either delay-seconds (``"120"``) or an HTTP-date
            (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
        now: the current unix time, to turn an HTTP-date into a delay.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


class RandomSource(Protocol):
    """Where jitter comes from (``random.Random`` fits; tests pass a fixed one)."""

    def random(self) -> float:
        """A float in [0, 1)."""
        ...


_JITTER = random.Random()  # noqa: S311 -- jitter spreads retries, it protects nothing


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one webhook is retried.

    Attributes:
        max_attempts: attempts in all, the first included (1 = never retry).
        backoff_initial_s: the ceiling of the first retry delay; it doubles per attempt.
        backoff_max_s: the cap of every delay, ``Retry-After`` included.
    """

    max_attempts: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {self.max_attempts}); 1 means no retry")
        if not self.backoff_initial_s > 0:
            raise ValueError(f"backoff_initial_s must be > 0 (got {self.backoff_initial_s})")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s ({self.backoff_max_s}) must be at least backoff_initial_s "
                f"({self.backoff_initial_s}); raise backoff_max_s or lower backoff_initial_s"
            )

    @classmethod
    def from_webhook(cls, hook: Webhook) -> RetryPolicy:
        """The policy configured on ``hook`` (``max_attempts``, ``backoff_initial_s``, ``backoff_max_s``)."""
        return cls(
            max_attempts=hook.max_attempts,
            backoff_initial_s=hook.backoff_initial_s,
            backoff_max_s=max(hook.backoff_max_s, hook.backoff_initial_s),
        )

    def ceiling(self, attempt: int) -> float:
        """The largest delay after failed attempt number ``attempt`` (1-based): initial·2^(n-1), capped."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1 (got {attempt})")
        return min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT))

    def delay(self, attempt: int, retry_after: float | None = None, rng: RandomSource | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` before the next one.

        Without ``retry_after`` this is "full jitter" backoff: uniform in ``[0, ceiling(attempt))``,
        which spreads the retries of many deliveries that failed together. A receiver's
        ``Retry-After`` (already parsed, in seconds) is followed instead, capped at
        ``backoff_max_s`` so one receiver cannot park a worker for hours.
        """
        ceiling = self.ceiling(attempt)
        if retry_after is not None:
            return min(self.backoff_max_s, max(0.0, retry_after))
        return (rng or _JITTER).random() * ceiling


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one POST gave: a status (with ``Retry-After`` and an excerpt of an error body) or an error.

    ``status`` is None when no answer came (timeout, refused connection, reset); such a failure
    is retried unless ``retryable`` is False (e.g. a URL the HTTP client cannot use at all).
    """

    status: int | None = None
    retry_after: str | None = None
    error: str | None = None
    retryable: bool = True


class Transport(Protocol):
    """Sends one request; the dispatcher's only view of the network (fakes replace it in tests)."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> AttemptResult:
        """POST ``body`` to ``url``; never raises for network trouble, reports it in the result."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _redact(message: str, url: str) -> str:
    """Keep only scheme, host and port of ``url`` in ``message``: a webhook path can be a secret (Slack)."""
    parts = urlsplit(url)
    return message.replace(url, f"{parts.scheme}://{parts.netloc}/…") if url else message


class AiohttpTransport:
    """:class:`Transport` over one shared ``aiohttp.ClientSession``.

    The session is created on first use, inside the running event loop. Each request has its own
    ``ClientTimeout(total=timeout_s)`` (webhooks differ), redirects are not followed, and the
    connection pool is sized by the dispatcher so that each webhook can use its ``concurrency``
    connections whatever the others do.
    """

    def __init__(self, connection_limit: int = 100) -> None:
        if connection_limit < 1:
            raise ValueError(f"connection_limit must be at least 1 (got {connection_limit})")
        self._limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._limit))
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> AttemptResult:
        """POST ``body``; timeouts and connection errors come back as a result, not an exception."""
        try:
            async with self._client().post(
                url,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as response:
                detail = None
                if not 200 <= response.status < 300:
                    excerpt = await response.content.read(_ERROR_BODY_BYTES)
                    detail = " ".join(excerpt.decode("utf-8", "replace").split()) or response.reason
                return AttemptResult(response.status, response.headers.get("Retry-After"), detail)
        except TimeoutError:
            return AttemptResult(error=f"timed out after {timeout_s:g}s")
        except aiohttp.InvalidURL:
            return AttemptResult(error="invalid URL", retryable=False)
        except (aiohttp.ClientError, OSError) as exc:
            return AttemptResult(error=_redact(f"{type(exc).__name__}: {exc}", url))

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """How one event's delivery to one webhook ended.

    ``attempts`` is 0 when the delivery was never tried (queue full, dispatcher closed).
    ``last_status`` is None when no HTTP answer came. ``error`` is None on success.
    """

    alert_id: str
    webhook_id: str
    delivered: bool
    attempts: int
    last_status: int | None
    error: str | None
    kind: AlertKind = "alert"


@dataclass(slots=True)
class WebhookMetrics:
    """Counters of one webhook.

    ``failed`` counts deliveries that ended undelivered for any reason (``queue_full`` among
    them); each is handed on as a dead letter, counted in ``dead_lettered`` (or in
    ``sink_errors`` when the dead-letter callback raised). ``retried`` counts retries, not
    deliveries; ``duplicates`` counts submissions skipped because the event was already
    delivered, queued or in flight.
    """

    submitted: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    dead_lettered: int = 0
    queue_full: int = 0
    duplicates: int = 0
    sink_errors: int = 0


@dataclass(slots=True)
class DeliveryMetrics:
    """Counters of every webhook, by webhook id."""

    webhooks: dict[str, WebhookMetrics] = field(default_factory=dict)

    def of(self, webhook_id: str) -> WebhookMetrics:
        """The counters of ``webhook_id``, created at zero on first use."""
        return self.webhooks.setdefault(webhook_id, WebhookMetrics())

    def total(self) -> WebhookMetrics:
        """All webhooks' counters summed."""
        total = WebhookMetrics()
        for counters in self.webhooks.values():
            for f in fields(WebhookMetrics):
                setattr(total, f.name, getattr(total, f.name) + getattr(counters, f.name))
        return total


OutcomeSink = Callable[[DeliveryOutcome], Awaitable[None] | None]
DeadLetterSink = Callable[[DeadLetter], Awaitable[None] | None]
_EventKey = tuple[str, str, str, int]
_T = TypeVar("_T")


class _BoundedSet:
    """Keys remembered in least-recently-used order, at most ``capacity`` of them."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[_EventKey, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: _EventKey) -> None:
        if self._capacity <= 0:
            return
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)


@dataclass(eq=False, slots=True)
class _Job:
    """One event on its way to one webhook; mutable so an interrupted delivery keeps its story."""

    alert_id: str
    kind: AlertKind
    webhook_id: str
    reported_by: int
    body: bytes
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    task: asyncio.Task[tuple[bool, str | None, str]] | None = None

    @property
    def key(self) -> _EventKey:
        return (self.alert_id, self.kind, self.webhook_id, self.reported_by)


_State = Literal["new", "running", "closing", "closed"]


class WebhookDispatcher:
    """Delivers alerts to webhooks, each webhook with its own bounded queue and workers.

    Use it as ``async with WebhookDispatcher(...) as d: await d.submit(alert)``, or call
    :meth:`start` and :meth:`close` yourself. See the module docstring for retries, the
    queue-full policy, shutdown and idempotency.

    Args:
        webhooks: the configured webhooks (ids must be unique).
        secrets: shared secret by webhook id, from
            :func:`schemas.config.resolve_webhook_secrets`; a webhook without one is sent unsigned.
        on_outcome: called with every :class:`DeliveryOutcome` (sync or async callable).
        on_dead_letter: called with the :class:`DeadLetter` of every failed delivery (sync or
            async); without it dead letters are only logged and counted.
        concurrency: worker tasks (and so parallel requests) per webhook.
        queue_size: deliveries that may wait per webhook before new ones are dead-lettered.
        dedup_capacity: delivered events remembered to skip re-submissions (0 disables).
        transport: how requests are sent; default one :class:`AiohttpTransport`.
        rng: jitter source for the backoff (tests pass a fixed one).
        clock: unix time for the signature timestamps and HTTP-date ``Retry-After``.
    """

    def __init__(
        self,
        webhooks: Sequence[Webhook],
        secrets: Mapping[str, SecretStr],
        on_outcome: OutcomeSink | None = None,
        on_dead_letter: DeadLetterSink | None = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        dedup_capacity: int = DEFAULT_DEDUP_CAPACITY,
        transport: Transport | None = None,
        rng: RandomSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 request per webhook (got {concurrency})")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1 (got {queue_size})")
        if dedup_capacity < 0:
            raise ValueError(f"dedup_capacity must be >= 0 (got {dedup_capacity}); 0 turns de-duplication off")
        hooks: dict[str, Webhook] = {}
        for hook in webhooks:
            if hook.id in hooks:
                raise ValueError(f"webhook id {hook.id!r} is configured twice; webhook ids must be unique")
            hooks[hook.id] = hook
        unknown = sorted(set(secrets) - set(hooks))
        if unknown:
            raise ValueError(f"secrets given for unknown webhook ids {unknown}; pass only configured webhooks")
        for hook in hooks.values():
            if hook.secret_env is not None and hook.id not in secrets:
                raise ValueError(
                    f"webhook {hook.id!r} names secret_env {hook.secret_env} but no secret was given; "
                    "resolve secrets with schemas.config.resolve_webhook_secrets at the entry point"
                )
        self._hooks = hooks
        self._policies = {hook_id: RetryPolicy.from_webhook(hook) for hook_id, hook in hooks.items()}
        self._secrets = dict(secrets)
        self._on_outcome = on_outcome
        self._on_dead_letter = on_dead_letter
        self._concurrency = concurrency
        self._queue_size = queue_size
        self._transport: Transport = transport or AiohttpTransport(max(1, concurrency * len(hooks)))
        self._rng = rng
        self._clock = clock
        self._delivered = _BoundedSet(dedup_capacity)
        self._pending: set[_EventKey] = set()
        self._queues: dict[str, asyncio.Queue[_Job]] = {}
        self._inflight: dict[str, set[_Job]] = {hook_id: set() for hook_id in hooks}
        self._workers: list[asyncio.Task[None]] = []
        self._state: _State = "new"
        self._abort_reason: str | None = None
        self._warned: set[tuple[str, str]] = set()
        self.metrics = DeliveryMetrics({hook_id: WebhookMetrics() for hook_id in hooks})

    async def __aenter__(self) -> WebhookDispatcher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def backlog(self) -> dict[str, int]:
        """Deliveries queued or in flight, by webhook id."""
        return {
            hook_id: (self._queues[hook_id].qsize() if hook_id in self._queues else 0) + len(jobs)
            for hook_id, jobs in self._inflight.items()
        }

    async def start(self) -> None:
        """Create the queues and start the workers (in the running event loop)."""
        if self._state == "running":
            return
        if self._state != "new":
            raise RuntimeError("this WebhookDispatcher was closed; create a new one")
        for hook_id, hook in self._hooks.items():
            queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=self._queue_size)
            self._queues[hook_id] = queue
            for n in range(self._concurrency):
                task = asyncio.create_task(self._worker(hook, queue), name=f"wirewatch-webhook-{hook_id}-{n}")
                self._workers.append(task)
        self._state = "running"

    async def submit(self, alert: Alert) -> int:
        """Queue ``alert`` for every webhook in ``alert.notify``, without waiting for the network.

        A webhook whose queue is full gets a dead letter (``queue full``) instead; an event already
        delivered, queued or in flight for a webhook is skipped (counted in ``duplicates``).

        Returns:
            How many deliveries were queued.

        Raises:
            RuntimeError: if :meth:`start` was not called.
        """
        if self._state == "new":
            raise RuntimeError("call start() (or use 'async with') before submit()")
        queued = 0
        bodies: dict[str, bytes] = {}
        for hook_id in dict.fromkeys(alert.notify):
            counters = self.metrics.of(hook_id)
            counters.submitted += 1
            hook = self._hooks.get(hook_id)
            fmt = hook.format if hook is not None else "generic"
            if fmt not in bodies:
                bodies[fmt] = render(alert, fmt)
            job = _Job(alert.alert_id, alert.kind, hook_id, len(alert.also_reported_by), bodies[fmt])
            if job.key in self._pending or job.key in self._delivered:
                counters.duplicates += 1
                continue
            if hook is None:
                # Config validation rejects unknown ids; if one gets here, keep the alert anyway.
                await self._finish(
                    job,
                    delivered=False,
                    reason="unknown webhook id, not in the configuration",
                    category="unknown_webhook",
                )
                continue
            if self._state != "running":
                await self._finish(job, delivered=False, reason="dispatcher closed, not attempted", category="closed")
                continue
            queue = self._queues[hook_id]
            try:
                queue.put_nowait(job)
            except asyncio.QueueFull:
                counters.queue_full += 1
                await self._finish(
                    job,
                    delivered=False,
                    reason=f"queue full ({queue.maxsize} deliveries waiting), not attempted",
                    category="queue_full",
                )
                continue
            self._pending.add(job.key)
            queued += 1
        return queued

    async def close(self, drain_timeout_s: float | None = DEFAULT_DRAIN_TIMEOUT_S) -> None:
        """Stop accepting alerts, finish what is queued and in flight, dead-letter the rest.

        Args:
            drain_timeout_s: how long queued and in-flight deliveries (retries included) may
                take; None waits for all of them. After it, in-flight requests and backoffs are
                interrupted and everything unfinished becomes a dead letter.
        """
        if self._state == "closed":
            return
        if self._state == "new":
            self._state = "closed"
            await self._transport.close()
            return
        self._state = "closing"
        if not await self._drained(drain_timeout_s):
            self._abort_reason = f"dispatcher closed (drain timeout {drain_timeout_s:g}s)"
            for jobs in self._inflight.values():
                for job in jobs:
                    if job.task is not None:
                        job.task.cancel()
            # Workers now only hand the leftovers to the sinks; bound that too.
            if not await self._drained(max(drain_timeout_s or 0.0, 1.0)):
                lost = sum(self.backlog.values())
                log.error("webhook dispatcher: %d deliveries could not be dead-lettered at shutdown", lost)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._state = "closed"
        await self._transport.close()

    async def _drained(self, timeout_s: float | None) -> bool:
        try:
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues.values())), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _worker(self, hook: Webhook, queue: asyncio.Queue[_Job]) -> None:
        inflight = self._inflight[hook.id]
        while True:
            job = await queue.get()
            try:
                if self._abort_reason is not None:
                    await self._finish(
                        job, delivered=False, reason=f"{self._abort_reason}, not attempted", category="closed"
                    )
                    continue
                inflight.add(job)
                job.task = asyncio.create_task(self._attempt_all(hook, job))
                try:
                    delivered, reason, category = await job.task
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # the worker itself is being stopped
                    delivered, reason, category = False, f"interrupted: {self._abort_reason}", "closed"
                except Exception as exc:
                    log.exception("webhook %r: internal error delivering alert %s", hook.id, job.alert_id)
                    delivered, reason, category = False, f"internal error: {type(exc).__name__}", "internal"
                inflight.discard(job)
                job.task = None
                await self._finish(job, delivered=delivered, reason=reason, category=category)
            finally:
                queue.task_done()

    async def _attempt_all(self, hook: Webhook, job: _Job) -> tuple[bool, str | None, str]:
        """Try ``job`` until delivered, permanently refused or out of attempts."""
        policy = self._policies[hook.id]
        secret = self._secrets.get(hook.id)
        counters = self.metrics.of(hook.id)
        while True:
            job.attempts += 1
            headers = build_headers(
                alert_id=job.alert_id,
                kind=job.kind,
                body=job.body,
                timestamp=int(self._clock()),
                secret=secret,
                reported_by=job.reported_by,
            )
            result = await self._transport.post(hook.url, job.body, headers, hook.timeout_s)
            job.last_status, job.last_error = result.status, result.error
            if result.status is None:
                verdict = Verdict.RETRY if result.retryable else Verdict.PERMANENT
            else:
                verdict = classify_status(result.status)
            if verdict is Verdict.DELIVERED:
                return True, None, "delivered"
            if verdict is Verdict.PERMANENT:
                what = f"HTTP {result.status}" if result.status is not None else "request error"
                return False, f"{what} is not retried", "not_retried"
            if job.attempts >= policy.max_attempts:
                return False, f"gave up after max_attempts={policy.max_attempts}", "gave_up"
            retry_after = None
            if result.status in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(result.retry_after, self._clock())
            counters.retried += 1
            wait = policy.delay(job.attempts, retry_after, self._rng)
            log.debug("webhook %r: attempt %d for %s failed, retry in %.2fs", hook.id, job.attempts, job.alert_id, wait)
            await asyncio.sleep(wait)

    async def _finish(self, job: _Job, *, delivered: bool, reason: str | None, category: str = "failed") -> None:
        """Record how ``job`` ended: metrics, idempotency memory, outcome and dead letter.

        ``category`` groups failures for logging: the first of each kind per webhook is a
        warning, the rest are debug lines (they are all counted and dead-lettered).
        """
        self._pending.discard(job.key)
        counters = self.metrics.of(job.webhook_id)
        if delivered:
            self._delivered.add(job.key)
            counters.delivered += 1
            outcome = DeliveryOutcome(job.alert_id, job.webhook_id, True, job.attempts, job.last_status, None, job.kind)
            await self._emit(self._on_outcome, outcome, counters)
            return
        counters.failed += 1
        error = (
            f"webhook {job.webhook_id!r}: {reason or 'not delivered'}; attempts={job.attempts}, "
            f"last status={job.last_status if job.last_status is not None else 'none'}, "
            f"last error={job.last_error or 'none'}"
        )
        if (job.webhook_id, category) not in self._warned:
            self._warned.add((job.webhook_id, category))
            log.warning(
                "alert %s not delivered (%s); further such failures are logged at debug level", job.alert_id, error
            )
        else:
            log.debug("alert %s not delivered (%s)", job.alert_id, error)
        letter = DeadLetter.of(
            job.body,
            stage="deliver",
            error_type=Reason.DELIVERY_FAILED,
            error=error,
            source=f"webhook:{job.webhook_id} alert:{job.alert_id} event:{job.kind}",
        )
        if await self._emit(self._on_dead_letter, letter, counters):
            counters.dead_lettered += 1
        outcome = DeliveryOutcome(job.alert_id, job.webhook_id, False, job.attempts, job.last_status, error, job.kind)
        await self._emit(self._on_outcome, outcome, counters)

    @staticmethod
    async def _emit(sink: Callable[[_T], Awaitable[None] | None] | None, item: _T, counters: WebhookMetrics) -> bool:
        """Hand ``item`` to ``sink``; a failing sink is logged and counted, never fatal to a worker."""
        if sink is None:
            return True
        try:
            result = sink(item)
            if inspect.isawaitable(result):
                await result
        except Exception:
            counters.sink_errors += 1
            log.exception("webhook delivery: the %s callback failed", type(item).__name__)
            return False
        return True


def deliver_all(
    alerts: Iterable[Alert],
    webhooks: Sequence[Webhook],
    secrets: Mapping[str, SecretStr],
    *,
    on_dead_letter: DeadLetterSink | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    drain_timeout_s: float | None = None,
) -> list[DeliveryOutcome]:
    """Deliver ``alerts`` synchronously, on a private event loop, and return every outcome.

    For ``wirewatch run --deliver``: the queues are sized to hold every alert, so nothing is
    dead-lettered as "queue full"; the call returns once each delivery succeeded or failed for
    good (bounded by ``max_attempts``, ``timeout_s`` and ``backoff_max_s``), or after
    ``drain_timeout_s`` when given.

    Raises:
        RuntimeError: when called from inside a running event loop (use :class:`WebhookDispatcher`).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("deliver_all() runs its own event loop; inside async code use WebhookDispatcher")
    batch = list(alerts)
    outcomes: list[DeliveryOutcome] = []

    async def run() -> None:
        dispatcher = WebhookDispatcher(
            webhooks,
            secrets,
            outcomes.append,
            on_dead_letter,
            concurrency=concurrency,
            queue_size=max(DEFAULT_QUEUE_SIZE, len(batch)),
        )
        await dispatcher.start()
        try:
            for alert in batch:
                await dispatcher.submit(alert)
        finally:
            await dispatcher.close(drain_timeout_s)

    asyncio.run(run())
    return outcomes


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DEDUP_CAPACITY",
    "DEFAULT_DRAIN_TIMEOUT_S",
    "DEFAULT_QUEUE_SIZE",
    "RETRY_AFTER_STATUSES",
    "AiohttpTransport",
    "AttemptResult",
    "DeadLetterSink",
    "DeliveryMetrics",
    "DeliveryOutcome",
    "OutcomeSink",
    "RandomSource",
    "RetryPolicy",
    "Transport",
    "Verdict",
    "WebhookDispatcher",
    "WebhookMetrics",
    "classify_status",
    "deliver_all",
    "parse_retry_after",
]
