"""The LLM layer: a chat model from the project file, bounded async concurrency, retries, a persistent
response cache in the run folder, and token / cost accounting per agent and round.

Every call goes through :meth:`LLMClient.chat`: the response cache answers repeats (an answer that arrived
is never paid for twice); otherwise the request is retried with exponential backoff and jitter on timeouts,
connection failures, a 200 whose body was cut off, 429 (honouring Retry-After) and 5xx, and not retried on
other 4xx. The ledger notes each request as it is sent: one whose answer never arrived (the process was killed
with it in flight) stays counted as a call, ``unanswered``, with its tokens unknown, until the same request, sent
again, is answered: then it counts at that answer's tokens and cost (``reconciled``), as the provider billed it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
import weakref
from collections.abc import Coroutine
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, messages_to_dict
from langchain_core.tools import BaseTool
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

from labelgraph.config import LLMSettings
from labelgraph.errors import ConfigError
from labelgraph.stores.connection import open_sqlite

__all__ = ["LLMClient", "Reply", "Usage", "make_chat_model", "retryable"]

T = TypeVar("T")


def make_chat_model(settings: LLMSettings) -> BaseChatModel:
    """A LangChain chat model; its own retries are off because ours (tenacity) handle them."""
    key = None
    if settings.api_key_env:
        key = os.environ.get(settings.api_key_env)
        if not key:
            raise ConfigError(f"llm: the environment variable {settings.api_key_env!r} (api_key_env) is not set")
    if settings.base_url:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=settings.model,
            base_url=settings.base_url,
            api_key=key or "not-needed",
            temperature=settings.temperature,
            timeout=settings.timeout,
            max_retries=0,
        )
    from langchain.chat_models import init_chat_model

    extra = {"api_key": key} if key else {}
    try:
        return init_chat_model(
            settings.model, temperature=settings.temperature, timeout=settings.timeout, max_retries=0, **extra
        )
    except (ImportError, ValueError) as error:
        raise ConfigError(f"llm: cannot make a chat model from {settings.model!r}: {error}") from None


CUT_OFF = frozenset({"APIConnectionError", "RemoteProtocolError", "IncompleteRead", "JSONDecodeError"})
"""Errors of an answer that did not arrive whole: the connection dropped, or a 200's body stops mid-JSON."""


def retryable(error: BaseException) -> bool:
    """Timeouts, connection failures, cut-off bodies, 408, 409, 429 and 5xx may succeed later; other 4xx cannot."""
    if isinstance(error, asyncio.TimeoutError | TimeoutError | ConnectionError):
        return True
    names = {cls.__name__ for cls in type(error).__mro__}
    if any("Timeout" in name for name in names) or names & CUT_OFF:
        return True
    status = getattr(error, "status_code", None) or getattr(getattr(error, "response", None), "status_code", None)
    return isinstance(status, int) and (status in (408, 409, 429) or status >= 500)


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def _llm_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a daemon thread, for every LLM call.

    Chat-model clients pool their HTTP connections (langchain-openai even shares one pool per process), and
    a pooled connection belongs to the loop that opened it: a fresh ``asyncio.run`` per batch, or a loop per
    run, would hand connections to the wrong or a closed loop.
    """
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="labelgraph-llm", daemon=True).start()
        return _LOOP


class _WaitRetryAfter(wait_base):
    """Wait as long as the server's Retry-After says (capped), else exponential backoff with jitter."""

    def __init__(self, max_wait: float):
        self.max_wait = max_wait
        self.fallback = wait_exponential_jitter(multiplier=0.5, max=max_wait, jitter=0.5)

    def __call__(self, retry_state: Any) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        response = getattr(error, "response", None)
        headers = response.headers if response is not None else {}
        wait = retry_after(headers.get("retry-after-ms"), headers.get("retry-after"))
        return min(wait, self.max_wait) if wait is not None else self.fallback(retry_state)


def retry_after(milliseconds: str | None, header: str | None) -> float | None:
    """Seconds to wait per ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an HTTP date), else None."""
    for value, scale in ((milliseconds, 1000.0), (header, 1.0)):
        if value:
            try:
                return max(float(value) / scale, 0.0)
            except ValueError:
                pass
    if header:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000": UTC by RFC 5322
            when = when.replace(tzinfo=UTC)
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    return None


class Usage(BaseModel):
    calls: int = 0
    """Requests sent (answered, ``reconciled`` and ``unanswered``)."""
    unanswered: int = 0
    """Requests sent with no answer recorded: in flight now, or lost when a process stopped with them in flight
    and not sent again since (the server may have billed them; their tokens are unknown, so ``cost`` leaves them
    out)."""
    reconciled: int = 0
    """Requests lost with their answer when a process stopped, and answered when sent again: the provider billed
    the first too (it answered it, or was answering it), so each counts at its answer's tokens and cost."""
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0


class Reply(BaseModel):
    """One chat answer: its text, token counts, cost, label-token log-probabilities if the server sent them."""

    content: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    logprobs: list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] = []
    cached: bool = False


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, reply TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
    key TEXT NOT NULL, agent TEXT NOT NULL, round INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost REAL NOT NULL,
    PRIMARY KEY (key, agent, round)
);
CREATE TABLE IF NOT EXISTS unanswered (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, agent TEXT NOT NULL, round INTEGER NOT NULL, sent REAL NOT NULL
);
"""


class LLMClient:
    """Cached, retried, bounded calls to one chat model, with a ledger of tokens and cost."""

    def __init__(self, settings: LLMSettings, cache_path: Path, *, model: BaseChatModel | None = None):
        self.settings = settings
        self.model = model or make_chat_model(settings)
        self._db = open_sqlite(cache_path, synchronous="NORMAL")  # a cache: a killed process loses no committed row
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._in_flight: dict[tuple[int, str], asyncio.Future[Reply]] = {}
        self.session = Usage()  # this process only: calls made and answered from cache
        self.round_number = 0  # the loop's round, for the ledger; set by the graph nodes

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the process's LLM event loop and wait for it (callable from sync code)."""
        return asyncio.run_coroutine_threadsafe(coroutine, _llm_loop()).result()

    def _limit(self) -> asyncio.Semaphore:
        """At most ``concurrency`` requests in flight (one semaphore per event loop)."""
        loop = asyncio.get_running_loop()
        if loop not in self._limits:
            self._limits[loop] = asyncio.Semaphore(self.settings.concurrency)
        return self._limits[loop]

    def _key(self, messages: list[BaseMessage], params: dict[str, Any]) -> str:
        identity = {"model": self.settings.model, "base_url": self.settings.base_url, **params}
        text = json.dumps([identity, messages_to_dict(messages)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def _cached(self, key: str) -> Reply | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM responses WHERE key = ?", (key,)).fetchone()
        return Reply.model_validate_json(row[0]) if row else None

    def _sent(self, key: str, agent: str, round_number: int) -> int:
        """Note a request as sent, before its answer: if the process dies first, the ledger still counts it."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO unanswered (key, agent, round, sent) VALUES (?, ?, ?, ?)",
                (key, agent, round_number, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def _failed(self, sent: int) -> None:
        """The request ended with an error the server sent or the client saw: nothing was answered to pay for."""
        with self._lock:
            self._db.execute("DELETE FROM unanswered WHERE id = ?", (sent,))

    def _record(self, key: str, reply: Reply, agent: str, round_number: int, sent: int) -> None:
        """The answer and what it cost, in one transaction (a crash keeps both or neither); the request's
        note as sent goes in the same transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM unanswered WHERE id = ?", (sent,))
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, reply.model_dump_json(), time.time())
            )
            self._db.execute(
                "INSERT OR IGNORE INTO usage VALUES (?, ?, ?, ?, ?, ?)",
                (key, agent, round_number, reply.input_tokens, reply.output_tokens, reply.cost),
            )
            self._db.execute("COMMIT")

    async def chat(
        self,
        messages: list[BaseMessage],
        *,
        agent: str,
        sample: int = 0,
        temperature: float | None = None,
        tools: list[BaseTool] | None = None,
    ) -> Reply:
        """One answer, from the cache if this exact request was answered before; ``tools`` may be called."""
        temperature = self.settings.temperature if temperature is None else temperature
        params = {
            "temperature": temperature,
            "sample": sample,
            "logprobs": self.settings.logprobs,
            "tools": [one.name for one in tools or []],
        }
        key = self._key(messages, params)
        cached = self._cached(key)
        if cached is not None:  # paid for once already, in this round or an earlier one: costs nothing now
            self.session.cached += 1
            return cached.model_copy(update={"cached": True})
        loop = asyncio.get_running_loop()
        flight = (id(loop), key)
        if flight in self._in_flight:  # the same request is on its way (e.g. a duplicate text): pay once
            reply = await asyncio.shield(self._in_flight[flight])
            self.session.cached += 1
            return reply.model_copy(update={"cached": True})
        future: asyncio.Future[Reply] = loop.create_future()
        self._in_flight[flight] = future
        try:
            reply = await self._ask(key, messages, agent=agent, temperature=temperature, tools=tools)
            future.set_result(reply)
            return reply
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters, if any, raise it too
            raise
        finally:
            del self._in_flight[flight]

    async def _ask(
        self, key: str, messages: list[BaseMessage], *, agent: str, temperature: float, tools: list[BaseTool] | None
    ) -> Reply:
        """Send the request (bounded, retried), record the answer and its cost, and return it."""
        options: dict[str, Any] = {"temperature": temperature}
        if self.settings.logprobs:
            options.update(logprobs=True, top_logprobs=5)
        bound = (self.model.bind_tools(tools) if tools else self.model).bind(**options)
        round_number, sent = self.round_number, 0
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(retryable),
                wait=_WaitRetryAfter(self.settings.max_wait),
                stop=stop_after_attempt(self.settings.max_retries + 1),
                reraise=True,
            ):
                with attempt:
                    async with self._limit():
                        sent = sent or self._sent(key, agent, round_number)
                        message = await bound.ainvoke(messages)
        except Exception:  # a kill or a cancellation keeps the note: that request may be billed
            if sent:
                self._failed(sent)
            raise
        usage = getattr(message, "usage_metadata", None) or {}
        tokens_in, tokens_out = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        prices = self.settings.prices
        reply = Reply(
            content=message.content if isinstance(message.content, str) else json.dumps(message.content),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost=(tokens_in * prices.input + tokens_out * prices.output) / 1_000_000,
            logprobs=(message.response_metadata.get("logprobs") or {}).get("content"),
            tool_calls=[dict(call) for call in getattr(message, "tool_calls", None) or []],
        )
        self.session.calls += 1
        self.session.input_tokens += tokens_in
        self.session.output_tokens += tokens_out
        self.session.cost += reply.cost
        self._record(key, reply, agent, round_number, sent)
        return reply

    def _ledger(self, column: str) -> str:
        """Every request as a row (``column``, lost, reconciled, tokens in, tokens out, cost): the answered ones,
        and those noted as sent without an answer, reconciled from the response cache where the same request was
        answered since (a process stopped after the provider answered, and before the answer was recorded)."""
        reply = "json_extract(r.reply, '$.{}')"
        return (
            f"SELECT {column}, 0 AS lost, 0 AS later, input_tokens, output_tokens, cost FROM usage UNION ALL "
            f"SELECT u.{column}, r.key IS NULL, r.key IS NOT NULL, COALESCE({reply.format('input_tokens')}, 0), "
            f"COALESCE({reply.format('output_tokens')}, 0), COALESCE({reply.format('cost')}, 0.0) "
            "FROM unanswered AS u LEFT JOIN responses AS r ON r.key = u.key"
        )

    def usage(self, *, by: str = "agent") -> dict[str, Usage]:
        """Tokens and cost recorded in this run folder, by ``agent`` or by ``round``; calls include unanswered
        and reconciled ones (see :class:`Usage`)."""
        column = {"agent": "agent", "round": "round"}[by]
        with self._lock:
            rows = self._db.execute(
                f"SELECT {column}, COUNT(*), SUM(lost), SUM(later), SUM(input_tokens), SUM(output_tokens), SUM(cost) "
                f"FROM ({self._ledger(column)}) GROUP BY 1"
            ).fetchall()
        return {
            str(k): Usage(
                calls=n, unanswered=u or 0, reconciled=r or 0, input_tokens=i or 0, output_tokens=o or 0, cost=c or 0.0
            )
            for k, n, u, r, i, o, c in rows
        }

    def total_cost(self) -> float:
        """What every request cost, reconciled ones included."""
        with self._lock:
            query = f"SELECT COALESCE(SUM(cost), 0) FROM ({self._ledger('agent')})"
            return float(self._db.execute(query).fetchone()[0])

    def close(self) -> None:
        self._db.close()
