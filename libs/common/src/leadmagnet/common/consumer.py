"""The SQS consumer runtime every worker service runs.

- Long polling (queue's wait time), batch receive (up to 10, never more than free slots, so no
  message waits invisible in a local buffer), bounded concurrency per process.
- A visibility heartbeat per in-flight message (every half visibility timeout) that also
  extends the idempotency lease of whatever stage the handler is running.
- Outcomes: success -> batched delete. ``PermanentError`` -> the failure hook (e.g. fail the
  job) then delete. Transient error -> exponential backoff with jitter via the message's
  visibility. On the queue's last allowed receive, or for a poison message (not parseable, no
  handler) -> the failure hook, then the message is moved to the DLQ at once with its reason.
  The queue's redrive policy stays as the safety net for crashes.
- Nothing is acknowledged before the handler returned (its work is durable by then).
- SIGTERM/SIGINT: stop receiving, let the in-flight long poll return and release what it got,
  drain handlers within the grace period, release (visibility 0) the ones still running, flush
  acknowledgements, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from . import tracing
from .errors import Deferred, LeadmagnetError, PermanentError, TransientError
from .events import CloudEvent, PoisonMessage, parse_event
from .idempotency import AlreadyInProgress
from .logging import get_logger
from .models import RUN_KIND
from .resources import Resources
from .topology import Queue

log = get_logger()

MAX_VISIBILITY_SECONDS = 43_200  # SQS limit (12 h)
MAX_DELAY_SECONDS = 900  # SQS limit for a message's DelaySeconds
DEFERRED_SINCE = "deferred_since"  # message attribute: epoch seconds of its first deferral


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


Handler = Callable[["MessageContext", CloudEvent[Any]], Awaitable[None]]


@dataclass(frozen=True)
class FailedMessage:
    """What a failure hook gets: the event (None when unparseable) and what could be salvaged."""

    error: LeadmagnetError
    event: CloudEvent[Any] | None
    event_type: str | None
    subject: str | None
    tenant_id: str | None
    receive_count: int
    poison: bool


FailureHook = Callable[[FailedMessage], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    """A handler with its own failure hook (flows fail differently: a job, a run, a lead)."""

    handler: Handler
    on_failure: FailureHook | None = None


Routes = Mapping[str, "Handler | Route"]


def backoff_delay(
    receive_count: int,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> int:
    """Seconds to keep a failed message invisible before its next attempt.

    Exponential in the receive count, capped, with "equal jitter" (half fixed, half random) so
    retries spread out but never come back at once. A provider's Retry-After is a floor.
    """
    ceiling = min(cap, base * (2 ** max(0, receive_count - 1)))
    delay = ceiling / 2 + rand() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return int(min(MAX_VISIBILITY_SECONDS, max(1, round(delay))))


def run_log_context(event: CloudEvent[Any]) -> dict[str, Any]:
    """Seed 001's log fields for a funnel run's messages: ``runId`` (the job id) and, where the
    event names it, ``templateId``, so CloudWatch filters like ``{ $.runId = "run_…" }`` find
    every line a service wrote for the run. Nothing for other jobs."""
    data = event.data
    template_id = getattr(data, "template_id", None)
    is_run = event.type.startswith("io.leadmagnet.run.") or getattr(data, "kind", None) == RUN_KIND
    job_id = getattr(data, "job_id", None) or event.subject
    if not is_run or not job_id:
        return {}
    fields: dict[str, Any] = {"runId": job_id}
    if template_id:
        fields["templateId"] = template_id
    return fields


class MessageContext:
    """One received message while its handler runs."""

    def __init__(self, message: Mapping[str, Any], visibility_timeout: int) -> None:
        self.message = message
        self.message_id: str = message["MessageId"]
        self.receipt_handle: str = message["ReceiptHandle"]
        attrs = message.get("Attributes", {})
        self.receive_count = int(attrs.get("ApproximateReceiveCount", "1"))
        self.sent_timestamp_ms = int(attrs.get("SentTimestamp", "0")) or None
        self.attributes: dict[str, str] = {
            k: v.get("StringValue", "")
            for k, v in message.get("MessageAttributes", {}).items()
            if "StringValue" in v
        }
        self.received_at = time.time()
        self._lease_deadline_ms = int((self.received_at + visibility_timeout) * 1000)
        self._listeners: list[Callable[[int], Awaitable[None]]] = []

    @property
    def lease_deadline_ms(self) -> int:
        return self._lease_deadline_ms

    def on_lease_extended(self, callback: Callable[[int], Awaitable[None]]) -> None:
        self._listeners.append(callback)

    async def _extended(self, deadline_ms: int) -> None:
        self._lease_deadline_ms = deadline_ms
        for callback in list(self._listeners):
            await callback(deadline_ms)


class BatchAcker:
    """Deletes and visibility changes, sent in batches of 10, with each batch's failures checked."""

    def __init__(self, sqs: Any, queue_url: str, flush_seconds: float) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.flush_seconds = flush_seconds
        self._deletes: list[tuple[str, asyncio.Future[bool]]] = []
        self._changes: list[tuple[str, int, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqs-acker")

    def _add(self) -> None:
        self._wake.set()
        if len(self._deletes) >= 10 or len(self._changes) >= 10:
            self._full.set()

    def delete(self, receipt_handle: str) -> asyncio.Future[bool]:
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._deletes.append((receipt_handle, fut))
        self._add()
        return fut

    def change_visibility(self, receipt_handle: str, seconds: int) -> asyncio.Future[bool]:
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._changes.append((receipt_handle, seconds, fut))
        self._add()
        return fut

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._full.set()
        if self._task:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                with contextlib.suppress(TimeoutError):  # gather a batch unless one is full
                    await asyncio.wait_for(self._full.wait(), self.flush_seconds)
            self._full.clear()
            await self._flush()
            if self._closing and not self._deletes and not self._changes:
                return

    async def _flush(self) -> None:
        deletes, self._deletes = self._deletes, []
        changes, self._changes = self._changes, []
        for i in range(0, len(deletes), 10):
            chunk = deletes[i : i + 10]
            deletes_batch: list[dict[str, Any]] = [
                {"Id": str(n), "ReceiptHandle": rh} for n, (rh, _) in enumerate(chunk)
            ]
            await self._send("delete_message_batch", deletes_batch, [f for _, f in chunk])
        for i in range(0, len(changes), 10):
            chunk2 = changes[i : i + 10]
            changes_batch: list[dict[str, Any]] = [
                {"Id": str(n), "ReceiptHandle": rh, "VisibilityTimeout": secs}
                for n, (rh, secs, _) in enumerate(chunk2)
            ]
            await self._send(
                "change_message_visibility_batch", changes_batch, [f for *_, f in chunk2]
            )

    async def _send(
        self, op: str, entries: list[dict[str, Any]], futures: list[asyncio.Future[bool]]
    ) -> None:
        try:
            resp = await getattr(self.sqs, op)(QueueUrl=self.queue_url, Entries=entries)
        except Exception as e:
            # The messages will simply be redelivered; idempotent stages absorb that.
            log.warning("sqs.batch_failed", operation=op, error=str(e), entries=len(entries))
            for f in futures:
                if not f.done():
                    f.set_result(False)
            return
        failed = {entry["Id"]: entry for entry in resp.get("Failed", [])}
        for n, f in enumerate(futures):
            entry = failed.get(str(n))
            if entry:
                log.warning(
                    "sqs.batch_entry_failed",
                    operation=op,
                    code=entry.get("Code"),
                    message=entry.get("Message"),
                )
            if not f.done():
                f.set_result(entry is None)


@dataclass
class ConsumerSettings:
    concurrency: int
    pollers: int
    wait_time_seconds: int
    backoff_base_seconds: float
    backoff_cap_seconds: float
    shutdown_grace_seconds: float
    ack_flush_seconds: float
    health_file: Path | None = None
    visibility_timeout_seconds: int | None = None  # None: the queue's (topology.json)


@dataclass
class _Stats:
    counts: Counter[str] = field(default_factory=Counter)


class Consumer:
    def __init__(
        self,
        *,
        resources: Resources,
        service: str,
        handlers: Routes,
        on_failure: FailureHook | None = None,
        queue_name: str | None = None,
        config: ConsumerSettings | None = None,
    ) -> None:
        self.resources = resources
        self.sqs = resources.aws.sqs
        self.service = service
        self.handlers: dict[str, Handler] = {}
        self.hooks: dict[str, FailureHook] = {}
        for type_, route in handlers.items():
            if isinstance(route, Route):
                self.handlers[type_] = route.handler
                if route.on_failure is not None:
                    self.hooks[type_] = route.on_failure
            else:
                self.handlers[type_] = route
        self.on_failure = on_failure
        if queue_name is None:
            queue_name, queue = resources.topology.queue_for(service)
        else:
            queue = resources.topology.queues[queue_name]
        self.queue_name: str = queue_name
        self.queue: Queue = queue
        s = resources.settings
        self.config = config or ConsumerSettings(
            concurrency=s.consumer_concurrency,
            pollers=s.consumer_pollers,
            wait_time_seconds=min(s.sqs_wait_time_seconds, queue.receive_wait_time_seconds),
            backoff_base_seconds=s.consumer_backoff_base_seconds or queue.backoff_base_seconds,
            backoff_cap_seconds=s.consumer_backoff_cap_seconds or queue.backoff_cap_seconds,
            shutdown_grace_seconds=s.consumer_shutdown_grace_seconds,
            ack_flush_seconds=s.consumer_ack_flush_seconds,
            health_file=s.health_file,
            visibility_timeout_seconds=s.consumer_visibility_timeout_seconds,
        )
        # The message lease: how long a message stays hidden (and a stage's idempotency lease
        # lasts) before the heartbeat extends it or a crash lets it come back.
        self.visibility_timeout: int = (
            self.config.visibility_timeout_seconds or queue.visibility_timeout_seconds
        )
        unknown = set(self.handlers) - queue.event_types
        if unknown:
            raise ValueError(
                f"{service} handles {sorted(unknown)} but queue {queue_name!r} is not "
                "subscribed to them (topology.json)"
            )
        self.stats = _Stats()
        self._stopping = asyncio.Event()
        self._ready = asyncio.Event()
        self._inflight = 0
        self._slots = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._queue_url = ""
        self._dlq_url = ""
        self._acker: BatchAcker | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        if not self._stopping.is_set():
            log.info("consumer.stop_requested", queue=self.queue_name)
            self._stopping.set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def run(self) -> None:
        self._queue_url = await self.resources.queue_url(self.queue_name)
        self._dlq_url = await self.resources.queue_url(self.queue_name, dlq=True)
        self._acker = BatchAcker(self.sqs, self._queue_url, self.config.ack_flush_seconds)
        self._acker.start()
        pollers = [
            asyncio.create_task(self._poll(), name=f"poller-{i}")
            for i in range(self.config.pollers)
        ]
        log.info(
            "consumer.ready",
            queue=self.queue_name,
            concurrency=self.config.concurrency,
            handles=sorted(self.handlers),
        )
        self._touch_health()
        self._ready.set()
        await self._stopping.wait()
        started = time.monotonic()
        # In-flight long polls return by themselves (at most wait_time); they release what
        # they received without starting it.
        await asyncio.wait(pollers, timeout=self.config.wait_time_seconds + 5)
        for p in pollers:
            p.cancel()
        remaining = max(0.0, self.config.shutdown_grace_seconds - (time.monotonic() - started))
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=remaining)
            for t in pending:
                t.cancel()
            if pending:
                log.warning("consumer.grace_expired", cancelled=len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        await self._acker.close()
        log.info(
            "consumer.stopped",
            queue=self.queue_name,
            seconds=round(time.monotonic() - started, 2),
            **dict(self.stats.counts),
        )

    def _touch_health(self) -> None:
        if self.config.health_file:
            try:
                self.config.health_file.touch()
            except OSError as e:
                log.warning("consumer.health_file_failed", error=str(e))

    # ---- receiving ---------------------------------------------------------------------------

    async def _reserve(self) -> int:
        async with self._slots:
            await self._slots.wait_for(
                lambda: self._inflight < self.config.concurrency or self._stopping.is_set()
            )
            if self._stopping.is_set():
                return 0
            n = min(10, self.config.concurrency - self._inflight)
            self._inflight += n
            return n

    async def _unreserve(self, n: int) -> None:
        if n:
            async with self._slots:
                self._inflight -= n
                self._slots.notify_all()

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            n = await self._reserve()
            if n == 0:
                return
            try:
                resp = await self.sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=n,
                    WaitTimeSeconds=self.config.wait_time_seconds,
                    VisibilityTimeout=self.visibility_timeout,
                    MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                    MessageAttributeNames=["All"],
                )
            except Exception as e:
                await self._unreserve(n)
                failures += 1
                delay = backoff_delay(failures, 1, 30)
                log.warning("consumer.receive_failed", error=str(e), retry_in=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                continue
            failures = 0
            self._touch_health()
            messages = resp.get("Messages", [])
            await self._unreserve(n - len(messages))
            if self._stopping.is_set():
                await self._release_unstarted(messages)
                return
            for m in messages:
                task = asyncio.create_task(self._process(m))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _release_unstarted(self, messages: list[dict[str, Any]]) -> None:
        assert self._acker is not None
        futures = [self._acker.change_visibility(m["ReceiptHandle"], 0) for m in messages]
        await self._unreserve(len(messages))
        if futures:
            await asyncio.gather(*futures)
            self.stats.counts["released"] += len(futures)
            log.info("consumer.released_unstarted", count=len(futures))

    # ---- processing --------------------------------------------------------------------------

    async def _process(self, message: dict[str, Any]) -> None:
        ctx = MessageContext(message, self.visibility_timeout)
        heartbeat = asyncio.create_task(self._heartbeat(ctx))
        try:
            with structlog.contextvars.bound_contextvars(
                message_id=ctx.message_id,
                event_type=ctx.attributes.get("type"),
                event_id=ctx.attributes.get("event_id"),
                job_id=ctx.attributes.get("subject"),
                tenant_id=ctx.attributes.get("tenant_id"),
                correlation_id=ctx.attributes.get("correlation_id"),
                receive_count=ctx.receive_count,
            ):
                await self._dispatch(ctx)
        except asyncio.CancelledError:
            # Shutdown grace expired: hand the message back at once.
            assert self._acker is not None
            self._acker.change_visibility(ctx.receipt_handle, 0)
            self.stats.counts["released"] += 1
            raise
        finally:
            heartbeat.cancel()
            await self._unreserve(1)

    async def _dispatch(self, ctx: MessageContext) -> None:
        assert self._acker is not None
        body = ctx.message["Body"]
        try:
            event = parse_event(body)
        except PoisonMessage as p:
            await self._dead_letter(
                ctx,
                FailedMessage(
                    error=PermanentError(p.reason, code="poison_message"),
                    event=None,
                    event_type=p.event_type or ctx.attributes.get("type"),
                    subject=p.subject or ctx.attributes.get("subject"),
                    tenant_id=p.tenant_id or ctx.attributes.get("tenant_id"),
                    receive_count=ctx.receive_count,
                    poison=True,
                ),
            )
            return
        with (
            structlog.contextvars.bound_contextvars(**run_log_context(event)),
            tracing.consumer_span(
                event,
                queue=self.resources.settings.name(self.queue_name),
                message_id=ctx.message_id,
            ),
        ):
            await self._handle(ctx, event)

    async def _handle(self, ctx: MessageContext, event: CloudEvent[Any]) -> None:
        assert self._acker is not None
        handler = self.handlers.get(event.type)
        if handler is None:
            await self._dead_letter(
                ctx,
                self._failed(
                    ctx,
                    event,
                    PermanentError(
                        f"{self.service} has no handler for {event.type}", code="poison_message"
                    ),
                    poison=True,
                ),
            )
            return
        started = time.monotonic()
        try:
            await handler(ctx, event)
        except PermanentError as e:
            log.warning("handler.permanent_error", error=e.message, code=e.code)
            tracing.mark_failed(e.message, e)
            if await self._report(self._failed(ctx, event, e, poison=False)):
                self._acker.delete(ctx.receipt_handle)
                self.stats.counts["failed"] += 1
            else:
                self._retry_later(ctx, None)
        except Exception as e:
            if isinstance(e, Deferred) and await self._defer(ctx, e):
                return
            err = (
                e
                if isinstance(e, LeadmagnetError)
                else TransientError(f"{type(e).__name__}: {e}", code="unexpected_error")
            )
            last = ctx.receive_count >= self.queue.max_receive_count
            if isinstance(e, AlreadyInProgress) and not last:
                log.info("handler.in_progress_elsewhere", retry_after=e.retry_after)
            else:
                log.warning(
                    "handler.transient_error",
                    error=err.message,
                    code=err.code,
                    last_attempt=last,
                    exc_info=not isinstance(e, LeadmagnetError),
                )
                tracing.mark_failed(err.message, e)
            if last:
                exhausted = PermanentError(
                    f"gave up after {ctx.receive_count} attempts: {err.message}", code=err.code
                )
                await self._dead_letter(ctx, self._failed(ctx, event, exhausted, poison=False))
            else:
                self._retry_later(ctx, getattr(err, "retry_after", None))
        else:
            self._acker.delete(ctx.receipt_handle)
            self.stats.counts["succeeded"] += 1
            elapsed = time.monotonic() - started
            log.info("handler.succeeded", seconds=round(elapsed, 3), duration=round(elapsed * 1000))

    def _failed(
        self, ctx: MessageContext, event: CloudEvent[Any], err: LeadmagnetError, *, poison: bool
    ) -> FailedMessage:
        return FailedMessage(
            error=err,
            event=event,
            event_type=event.type,
            subject=event.subject,
            tenant_id=event.tenantid,
            receive_count=ctx.receive_count,
            poison=poison,
        )

    async def _defer(self, ctx: MessageContext, deferred: Deferred) -> bool:
        """Put the message back as a new message after ``retry_after`` (with jitter): a fresh
        receive count, so waiting for a shared capacity never walks it toward the DLQ. The
        deferrals have their own budget, in time since the first one; False once it is spent
        (or the re-send failed): the caller then retries it as any transient error."""
        assert self._acker is not None
        now = time.time()
        since = _float(ctx.attributes.get(DEFERRED_SINCE)) or now
        if now - since > self.resources.settings.consumer_deferral_budget_seconds:
            return False
        attrs = {
            k: v
            for k, v in ctx.message.get("MessageAttributes", {}).items()
            if k != DEFERRED_SINCE and v.get("DataType", "").startswith(("String", "Number"))
        }
        attrs = dict(list(attrs.items())[:9])  # SQS allows 10 attributes
        attrs[DEFERRED_SINCE] = {"DataType": "String", "StringValue": f"{since:.3f}"}
        hint = deferred.retry_after or self.config.backoff_base_seconds
        delay = int(min(MAX_DELAY_SECONDS, max(1, round(hint * (1 + random.random() / 2)))))
        try:
            await self.sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=ctx.message["Body"],
                MessageAttributes=attrs,
                DelaySeconds=delay,
            )
        except Exception as e:
            log.warning("handler.defer_failed", error=str(e))
            return False
        self._acker.delete(ctx.receipt_handle)  # (a lost delete: a duplicate the stage absorbs)
        self.stats.counts["deferred"] += 1
        log.info(
            "handler.deferred", code=deferred.code, reason=deferred.message, delay_seconds=delay
        )
        return True

    def _retry_later(self, ctx: MessageContext, retry_after: float | None) -> None:
        assert self._acker is not None
        delay = backoff_delay(
            ctx.receive_count,
            self.config.backoff_base_seconds,
            self.config.backoff_cap_seconds,
            retry_after,
        )
        # SQS counts a message's visibility from its receipt, 12 h in total.
        elapsed = int(time.time() - ctx.received_at)
        delay = min(delay, MAX_VISIBILITY_SECONDS - elapsed - 1)
        self._acker.change_visibility(ctx.receipt_handle, max(0, delay))
        self.stats.counts["retried"] += 1
        log.info("handler.retry_scheduled", delay_seconds=delay)

    async def _report(self, failed: FailedMessage) -> bool:
        """Run the failure hook; False if it could not record the failure (retry later)."""
        hook = self.hooks.get(failed.event_type or "", self.on_failure)
        if hook is None:
            return True
        try:
            await hook(failed)
            return True
        except Exception as e:
            log.error("failure_hook.failed", error=str(e), exc_info=True)
            return False

    async def _dead_letter(self, ctx: MessageContext, failed: FailedMessage) -> None:
        """Record the failure, then move the message to the DLQ with its reason."""
        assert self._acker is not None
        if not await self._report(failed):
            self._retry_later(ctx, None)
            return
        attrs = {
            k: v
            for k, v in ctx.message.get("MessageAttributes", {}).items()
            if v.get("DataType", "").startswith(("String", "Number"))
        }
        attrs = dict(list(attrs.items())[:7])
        extra = {
            "dlq_reason": failed.error.message[:1000],
            "dlq_source_queue": self.resources.name(self.queue_name),
            "dlq_receive_count": str(ctx.receive_count),
        }
        attrs.update({k: {"DataType": "String", "StringValue": v} for k, v in extra.items()})
        try:
            await self.sqs.send_message(
                QueueUrl=self._dlq_url, MessageBody=ctx.message["Body"], MessageAttributes=attrs
            )
        except Exception as e:  # keep the message; the redrive policy is the safety net
            log.error("message.dead_letter_failed", error=str(e))
            self._retry_later(ctx, None)
            return
        self._acker.delete(ctx.receipt_handle)
        self.stats.counts["dead_lettered"] += 1
        log.warning("message.dead_lettered", reason=failed.error.message, poison=failed.poison)

    async def _heartbeat(self, ctx: MessageContext) -> None:
        visibility = self.visibility_timeout
        interval = max(1.0, visibility / 2)
        while True:
            await asyncio.sleep(interval)
            if time.time() - ctx.received_at + visibility >= MAX_VISIBILITY_SECONDS:
                log.warning("heartbeat.max_visibility_reached")
                return
            try:
                await self.sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=ctx.receipt_handle,
                    VisibilityTimeout=visibility,
                )
                await ctx._extended(int((time.time() + visibility) * 1000))
                self.stats.counts["heartbeats"] += 1
            except Exception as e:
                log.warning("heartbeat.failed", error=str(e))
