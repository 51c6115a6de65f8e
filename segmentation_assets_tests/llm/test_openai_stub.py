"""A real ``ChatOpenAI`` against a local HTTP stub: canned answer, malformed answer, timeout, 429.

The stub is a ``ThreadingHTTPServer`` on an ephemeral 127.0.0.1 port in a daemon thread. It speaks the
Chat Completions wire format and picks its behaviour from the request's ``model``:

* ``stub-canned``    - a tool call with a valid verdict (and token usage)
* ``stub-malformed`` - a tool call whose arguments are not JSON
* ``stub-slow``      - answers only after the client's timeout (bounded; released at teardown)
* ``stub-429``       - HTTP 429 with a tiny ``retry-after-ms``

The ChatOpenAI tests need the ``openai`` extra and are skipped without it; the first test exercises
the stub itself so it cannot rot unnoticed.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from segmentation_assets.llm import SegmentSummary, build_chat_model, evaluate_segments
from segmentation_assets.llm.models import answer_payload
from segmentation_assets.llm.rules_model import assess_segment

SLOW_SECONDS = 3.0
USAGE = {"prompt_tokens": 812, "completion_tokens": 154, "total_tokens": 966}


@dataclass
class StubState:
    canned_args: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _completion(model: str, message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1_735_603_200,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": USAGE,
    }


def _tool_call(arguments: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_stub_1",
                "type": "function",
                "function": {"name": "ActionabilityVerdict", "arguments": arguments},
            }
        ],
    }


def _handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            return

        def _send(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            # the client may have given up already (timeout)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                state.requests.append(request)
                state.auth_headers.append(self.headers.get("Authorization", ""))
            if not self.path.endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid"}})
                return
            model = request.get("model", "")
            if model == "stub-canned":
                body = _completion(model, _tool_call(json.dumps(state.canned_args)), "tool_calls")
                self._send(200, body)
            elif model == "stub-malformed":
                self._send(200, _completion(model, _tool_call('{"dimensions": {"who": '), "stop"))
            elif model == "stub-slow":
                state.release.wait(SLOW_SECONDS)
                self._send(200, _completion(model, _tool_call("{}"), "stop"))
            elif model == "stub-429":
                error = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}
                self._send(429, {"error": error}, {"retry-after-ms": "10"})
            else:
                self._send(400, {"error": {"message": f"unknown stub model {model}"}})

    return Handler


@pytest.fixture
def stub(new_customers: SegmentSummary) -> Iterator[tuple[str, StubState]]:
    state = StubState(canned_args=answer_payload(assess_segment(new_customers)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_stub_speaks_chat_completions(stub: tuple[str, StubState]) -> None:
    base_url, state = stub
    request = urllib.request.Request(
        f"{base_url}/chat/completions",
        data=json.dumps({"model": "stub-canned", "messages": []}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
    call = body["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == "ActionabilityVerdict"
    assert json.loads(call["arguments"]) == state.canned_args


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-stub-not-a-real-key")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.mark.usefixtures("openai_env")
def test_chat_openai_canned_answer_goes_through_the_chain(
    stub: tuple[str, StubState], new_customers: SegmentSummary
) -> None:
    base_url, state = stub
    model = build_chat_model("openai:stub-canned", base_url=base_url, timeout=5, max_retries=0)
    result = evaluate_segments(
        [new_customers],
        "openai:stub-canned",
        model=model,
        price_table={"openai:stub-canned": (1.0, 2.0)},
    )
    [verdict] = result
    assert not verdict.fell_back, verdict.fallback_reason
    assert verdict.provider == "openai" and verdict.model_name == "stub-canned"
    assert verdict.explanation.recommended_campaign == "onboarding_second_purchase"
    assert result.usage.calls_made == 1
    assert (result.usage.input_tokens, result.usage.output_tokens) == (812, 154)
    assert result.usage.estimated_cost_usd == pytest.approx((812 * 1.0 + 154 * 2.0) / 1e6)
    [request] = state.requests
    assert [t["function"]["name"] for t in request["tools"]] == ["ActionabilityVerdict"]
    assert request["temperature"] == 0
    assert state.auth_headers == ["Bearer sk-stub-not-a-real-key"]
    prompt = json.dumps(request["messages"])
    assert "segment_summary" in prompt and "@" not in prompt


@pytest.mark.usefixtures("openai_env")
def test_chat_openai_malformed_answer_falls_back(
    stub: tuple[str, StubState], new_customers: SegmentSummary
) -> None:
    base_url, state = stub
    model = build_chat_model("openai:stub-malformed", base_url=base_url, timeout=5, max_retries=0)
    [verdict] = evaluate_segments(
        [new_customers], "openai:stub-malformed", model=model, retry_backoff_seconds=0.0
    )
    assert verdict.fell_back and "unparseable answer" in (verdict.fallback_reason or "")
    assert len(state.requests) == 2  # the answer was re-asked once
    assert verdict.explanation.recommended_campaign == "onboarding_second_purchase"


@pytest.mark.usefixtures("openai_env")
def test_chat_openai_timeout_falls_back(
    stub: tuple[str, StubState], new_customers: SegmentSummary
) -> None:
    base_url, _ = stub
    model = build_chat_model("openai:stub-slow", base_url=base_url, timeout=0.3, max_retries=0)
    [verdict] = evaluate_segments([new_customers], "openai:stub-slow", model=model)
    reason = (verdict.fallback_reason or "").lower()
    assert verdict.fell_back and ("timeout" in reason or "timed out" in reason)


@pytest.mark.usefixtures("openai_env")
def test_chat_openai_rate_limit_is_retried_then_falls_back(
    stub: tuple[str, StubState], new_customers: SegmentSummary
) -> None:
    base_url, state = stub
    model = build_chat_model("openai:stub-429", base_url=base_url, timeout=5, max_retries=1)
    [verdict] = evaluate_segments([new_customers], "openai:stub-429", model=model)
    reason = verdict.fallback_reason or ""
    assert verdict.fell_back and ("429" in reason or "RateLimit" in reason)
    assert len(state.requests) == 2  # the SDK retried once with backoff
    assert "sk-stub-not-a-real-key" not in reason
