"""A scripted OpenAI-compatible chat server on 127.0.0.1: real HTTP, so the real client parses and retries.

    with ScriptedLLM(labeller=lambda text: "positive") as server:
        ChatOpenAI(base_url=server.url, api_key="test", model="scripted")

When the request offers tools, it first calls the first one with the item's text, then answers.
It answers annotator prompts with ``{"label", "confidence", "rationale"}`` from ``labeller(text)`` (or, per request,
from ``answerer(text, body)``: the label, the confidence stated and the label tokens' probability) and critic
prompts with ``{"verdict", "reason"}`` from ``judge(text, label)``. Queued faults apply to the next requests: 429 with
Retry-After, 500, a delay past the client's timeout, malformed JSON, a label outside the set, a 200 whose body
stops halfway (``truncated``: the connection closes mid-body; ``cut``: the JSON itself is cut off).
Every request body is kept in ``requests``, so a test can count calls and read what the model was sent.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Fault", "ScriptedAnswer", "ScriptedLLM", "text_to_label"]

_TEXT = re.compile(r"<text>\n(.*?)\n</text>", re.DOTALL)


class _QuietServer(ThreadingHTTPServer):
    """A client that goes away mid-connection is normal here (tests kill processes); no traceback for it."""

    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Fault:
    """What to do instead of a normal answer: ``kind`` is 429, 500, 400, slow, malformed, outside, truncated or cut."""

    kind: str
    seconds: float = 0.0


@dataclass(frozen=True)
class ScriptedAnswer:
    """One annotator answer: the label, the confidence it states, the probability its label tokens get."""

    label: str
    confidence: float = 0.9
    label_probability: float = 0.8


def text_to_label(messages: list[dict[str, Any]], *, first: bool = False) -> str:
    """A delimited text of the last user message: the last (the item to label) or the first (the item judged)."""
    for message in reversed([m for m in messages if m.get("role") == "user"]):  # a repair request has none
        found = _TEXT.findall(str(message["content"]))
        if found:
            return found[0] if first else found[-1]
    return ""


class ScriptedLLM:
    """An OpenAI-compatible ``/v1/chat/completions`` whose answers and faults a test scripts."""

    def __init__(
        self,
        *,
        labeller: Callable[[str], str] = lambda text: "positive",
        judge: Callable[[str, str], str] = lambda text, label: "accept",
        confidence: float = 0.9,
        label_probability: float = 0.8,
        latency: float = 0.0,
        call_tools: bool = True,
        writer: Callable[[str, int], list[str]] = lambda label, count: [
            f"a new {label} text {i}" for i in range(count)
        ],
        flipper: Callable[[str, str], str] = lambda text, target: f"{text} (now {target})",
        chooser: Callable[[int, int], list[int]] = lambda candidates, count: list(range(candidates))[::-1][:count],
        answerer: Callable[[str, dict[str, Any]], ScriptedAnswer] | None = None,
    ):
        self.labeller, self.judge, self.call_tools = labeller, judge, call_tools
        self.writer, self.flipper, self.chooser, self.answerer = writer, flipper, chooser, answerer
        self.confidence, self.label_probability, self.latency = confidence, label_probability, latency
        self.faults: deque[Fault] = deque()
        self.requests: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def count(self, kind: str = "annotator") -> int:
        """Requests received whose system prompt is the annotator's (or the critic's)."""
        marker = {
            "annotator": "You label texts",
            "critic": "You check labels",
            "generator": "You write short example texts",
            "selector": "You choose which unlabelled texts",
        }[kind]
        return sum(marker in str(r["messages"][0].get("content", "")) for r in self.requests)

    # -- answers -----------------------------------------------------------------------------------
    def _content(self, body: dict[str, Any], fault: Fault | None) -> tuple[str, float]:
        """The answer's content and the probability its label tokens get."""
        messages, fixed = body["messages"], self.label_probability
        text = text_to_label(messages)
        if fault and fault.kind == "malformed":
            return '{"label": "positive", "confidence": 0.9, "rationale": "cut off', fixed
        system, last = str(messages[0].get("content", "")), str(messages[-1]["content"])
        if system.startswith("You write short example texts"):
            asked = re.search(r"Write (\d+) new, varied texts that clearly belong to '([^']+)'", last)
            if asked:
                return json.dumps({"texts": self.writer(asked.group(2), int(asked.group(1)))}), fixed
            target = re.search(r"clearly belongs to '([^']+)'", last)
            flipped = self.flipper(text_to_label(messages, first=True), target.group(1))
            return json.dumps({"text": flipped}), fixed
        if system.startswith("You choose which unlabelled texts"):
            count = int(re.search(r"Choose (\d+) of them", last).group(1))
            picks = self.chooser(len(_TEXT.findall(last)), count)
            return json.dumps({"picks": [{"index": i, "why": f"scripted pick {i}"} for i in picks]}), fixed
        if "You check labels" in system:
            label = re.search(r"Proposed label: (.*)", str(messages[-1]["content"]))
            verdict = self.judge(text_to_label(messages, first=True), label.group(1).strip() if label else "")
            return json.dumps({"verdict": verdict, "reason": f"scripted judge says {verdict}"}), fixed
        if self.answerer is not None:
            answer = self.answerer(text, body)
        else:
            answer = ScriptedAnswer(self.labeller(text), self.confidence, self.label_probability)
        label = "no-such-label" if fault and fault.kind == "outside" else answer.label
        content = json.dumps({"label": label, "confidence": answer.confidence, "rationale": "scripted"})
        return content, answer.label_probability

    def _tool_call(self, body: dict[str, Any]) -> dict[str, Any]:
        """Call the first offered tool with the item's text as its first argument."""
        function = body["tools"][0]["function"]
        argument = next(iter(function.get("parameters", {}).get("properties", {})), "text")
        call = {
            "id": f"call_{len(self.requests)}",
            "type": "function",
            "function": {
                "name": function["name"],
                "arguments": json.dumps({argument: text_to_label(body["messages"])}),
            },
        }
        return {
            "index": 0,
            "message": {"role": "assistant", "content": None, "tool_calls": [call]},
            "finish_reason": "tool_calls",
        }

    def _logprobs(self, content: str, label_probability: float) -> dict[str, Any]:
        """Tokens of a few characters each; the label's tokens carry ``label_probability`` between them."""
        tokens = [content[i : i + 4] for i in range(0, len(content), 4)]
        found = re.search(r'"label"\s*:\s*"([^"]*)"', content)
        span = found.span(1) if found else (0, 0)
        inside = [i for i in range(len(tokens)) if i * 4 < span[1] and i * 4 + 4 > span[0]]
        each = math.log(label_probability) / max(len(inside), 1)
        return {
            "content": [
                {"token": t, "logprob": each if i in inside else 0.0, "bytes": None, "top_logprobs": []}
                for i, t in enumerate(tokens)
            ]
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True  # no 40 ms wait between header and body writes

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(
                self,
                status: int,
                payload: dict[str, Any],
                headers: dict[str, str] | None = None,
                fault: Fault | None = None,
            ) -> None:
                data = json.dumps(payload).encode()
                if fault and fault.kind == "cut":  # a whole response whose JSON stops halfway
                    data = data[: len(data) // 2]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if fault and fault.kind == "truncated":  # half the promised body, then the connection closes
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with script._lock:
                    script.requests.append(body)
                    script.arrivals.append(time.monotonic())
                    fault = script.faults.popleft() if script.faults else None
                if script.latency:
                    time.sleep(script.latency)
                if fault and fault.kind == "429":
                    error = {"error": {"message": "rate limited", "type": "rate_limit", "code": "rate_limit"}}
                    return self._send(429, error, {"Retry-After": str(fault.seconds)})
                if fault and fault.kind == "500":
                    return self._send(500, {"error": {"message": "boom", "type": "server_error"}})
                if fault and fault.kind == "400":
                    return self._send(400, {"error": {"message": "bad request", "type": "invalid_request_error"}})
                if fault and fault.kind == "slow":
                    time.sleep(fault.seconds)
                called = any(m.get("role") == "tool" for m in body["messages"])
                probability = script.label_probability
                if body.get("tools") and script.call_tools and not called:
                    choice = script._tool_call(body)
                    content = ""
                else:
                    content, probability = script._content(body, fault)
                    choice = {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                if body.get("logprobs"):
                    choice["logprobs"] = script._logprobs(content, probability)
                prompt_tokens = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(script.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "scripted"),
                        "choices": [choice],
                        "usage": {
                            "prompt_tokens": prompt_tokens,
                            "completion_tokens": len(content) // 4,
                            "total_tokens": prompt_tokens + len(content) // 4,
                        },
                    },
                    fault=fault,
                )

        return Handler
