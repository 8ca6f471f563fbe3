"""The Gemini API (generativelanguage, v1beta) wire format, client side, without I/O.

Requests: `request_path`, `encode_request` (hermes messages and OpenAI-style tool specs to a
GenerateContentRequest). Answers: `GeminiAccumulator` turns GenerateContentResponse objects (one
whole answer, or the `data:` payloads of a `streamGenerateContent?alt=sse` stream) into
`hermes.messages` events. Errors: `parse_error` reads Google's `{"error": {...}}` body."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from hermes.errors import HermesError
from hermes.messages import (
    Finish,
    Message,
    ReasoningDelta,
    ReasoningEffort,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolChoice,
    Usage,
    UsageReport,
)
from hermes.wire import fastjson
from hermes.wire.images import gemini_parts

__all__ = [
    "API_VERSION",
    "SKIP_SIGNATURE",
    "ErrorInfo",
    "GeminiAccumulator",
    "WireError",
    "clean_schema",
    "encode_contents",
    "encode_request",
    "finish_reason",
    "function_declaration",
    "parse_error",
    "request_path",
]

API_VERSION: Final = "v1beta"
# Google's documented stand-in for a thought signature hermes no longer has (history from before a
# restart, or from another model): Gemini 3 rejects a replayed functionCall without one.
SKIP_SIGNATURE: Final = "skip_thought_signature_validator"

# The keys of Gemini's `Schema` (an OpenAPI 3.0 subset). Anything else (additionalProperties,
# $schema, $defs, const, strict, ...) is rejected with 400 "Unknown name", so it is dropped.
_SCHEMA_KEYS: Final = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
# finishReason values meaning the answer was withheld or cut for policy reasons.
_FILTERED: Final = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "LANGUAGE",
    }
)
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")
# thinkingBudget for each reasoning effort (Gemini 2.5 Flash takes 0 to 24576, Pro 128 to 32768;
# Gemini 3 maps a budget to its thinking levels).
THINKING_BUDGETS: Final[dict[str, int]] = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
}


class WireError(HermesError):
    """Gemini answered in a broken shape, or reported an error inside a 200 answer."""

    status = 502
    type = "server_error"
    code = "bad_upstream_response"


# ---------------------------------------------------------------------------------------------
# Requests


def request_path(model: str, *, stream: bool) -> str:
    """The path (and query) after the base URL. A bare model name means `models/<name>`; a full
    resource name (`models/...`, `tunedModels/...`) is used as given."""
    resource = model if "/" in model else f"models/{model}"
    resource = quote(resource, safe="/-._~@")
    if stream:
        return f"/{API_VERSION}/{resource}:streamGenerateContent?alt=sse"
    return f"/{API_VERSION}/{resource}:generateContent"


def encode_request(
    messages: Sequence[Message],
    *,
    tools: Sequence[Mapping[str, Any]] = (),
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: Sequence[str] = (),
    signatures: Mapping[str, str] | None = None,
    missing_signature: str | None = None,
    tool_choice: ToolChoice | None = None,
    reasoning_effort: ReasoningEffort | None = None,
) -> dict[str, Any]:
    """A GenerateContentRequest. System messages become one `systemInstruction`; `signatures`
    maps tool call ids to the thought signatures Gemini sent with them (see `encode_contents`).
    A reasoning effort asks for the thoughts too (`includeThoughts`), within a budget."""
    body: dict[str, Any] = {
        "contents": encode_contents(messages, signatures or {}, missing_signature)
    }
    system = [m.content for m in messages if m.role == "system" and m.content]
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if tools:
        body["tools"] = [{"functionDeclarations": [function_declaration(t) for t in tools]}]
        if tool_choice is not None:
            body["toolConfig"] = encode_tool_choice(tool_choice)
    config: dict[str, Any] = {
        "maxOutputTokens": max_tokens,
        "temperature": temperature,
        "topP": top_p,
    }
    config = {k: v for k, v in config.items() if v is not None}
    if stop:
        config["stopSequences"] = list(stop)
    if reasoning_effort is not None:
        budget = THINKING_BUDGETS[reasoning_effort]
        config["thinkingConfig"] = {"includeThoughts": True, "thinkingBudget": budget}
    if config:
        body["generationConfig"] = config
    return body


def encode_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    """OpenAI's tool_choice as Gemini's function-calling mode: AUTO, NONE, or ANY (a call is
    required), limited to one function when it is named. Gemini has no switch for one call per
    answer."""
    mode = {"auto": "AUTO", "none": "NONE"}.get(choice.mode, "ANY")
    config: dict[str, Any] = {"mode": mode}
    if choice.mode == "function":
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


# Stands in for the user turn a history that starts with the model lacks.
LEADING_USER_TEXT = "(continuing the conversation)"


def encode_contents(
    messages: Iterable[Message],
    signatures: Mapping[str, str],
    missing_signature: str | None = None,
) -> list[dict[str, Any]]:
    """`contents`: user / model turns, consecutive same-role turns merged (so parallel tool
    results share one user turn, as Gemini wants). A tool result names its function, found from
    the latest earlier call with its id. `missing_signature`, when set, stands in for the thought
    signature of a replayed model turn whose calls have none."""
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "assistant":
            role, parts = "model", _model_parts(m, signatures, missing_signature)
            names.update((c.id, c.name) for c in m.tool_calls)
        elif m.role == "tool":
            role, parts = "user", [_function_response(m, names)]
        else:
            role, parts = "user", [*gemini_parts(m), *([{"text": m.content}] if m.content else [])]
        if not parts:
            continue  # Gemini rejects a turn without parts
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if contents and contents[0]["role"] == "model":
        # Gemini wants a user turn first; a condensed history can start with the model's.
        contents.insert(0, {"role": "user", "parts": [{"text": LEADING_USER_TEXT}]})
    return contents


def _model_parts(
    m: Message, signatures: Mapping[str, str], missing_signature: str | None
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
    calls: list[dict[str, Any]] = []
    for call in m.tool_calls:
        part: dict[str, Any] = {
            "functionCall": {"name": call.name, "args": _args_object(call.arguments)}
        }
        if call.id in signatures:
            part["thoughtSignature"] = signatures[call.id]
        calls.append(part)
    # Of parallel calls only the first carries a signature; one is enough for the turn.
    if calls and missing_signature and not any("thoughtSignature" in p for p in calls):
        calls[0]["thoughtSignature"] = missing_signature
    return parts + calls


def _args_object(arguments: str) -> dict[str, Any]:
    """Gemini's `args` is an object; a call written by another model may not be one. orjson
    refuses lone surrogates, and a depth bound keeps the body encodable."""
    try:
        parsed = fastjson.loads_within(arguments or "{}")
    except ValueError:
        return {"arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _function_response(m: Message, names: Mapping[str, str]) -> dict[str, Any]:
    name = names.get(m.tool_call_id or "") or m.name or "unknown_tool"
    return {"functionResponse": {"name": name, "response": {"content": m.content or ""}}}


def function_declaration(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One functionDeclaration from an OpenAI-style spec ({"type": "function", "function":
    {...}}) or a bare {"name", "description", "parameters"}."""
    fn = spec.get("function") if spec.get("type") == "function" else spec
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        raise ValueError(f"not a function tool spec: {dict(spec)!r}"[:300])
    decl: dict[str, Any] = {"name": fn["name"]}
    if isinstance(fn.get("description"), str) and fn["description"]:
        decl["description"] = fn["description"]
    params = fn.get("parameters")
    if isinstance(params, Mapping):
        cleaned = clean_schema(params)
        # Gemini rejects an object schema with no properties: a tool without arguments omits it.
        if cleaned.get("type") != "object" or cleaned.get("properties"):
            decl["parameters"] = cleaned
    return decl


def clean_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON schema cut down to the keys Gemini accepts, recursively. `type: [X, "null"]`
    becomes `type: X, nullable: true`; an empty `required` is dropped."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {
                name: clean_schema(sub) if isinstance(sub, Mapping) else sub
                for name, sub in value.items()
            }
        elif key == "items" and isinstance(value, Mapping):
            out[key] = clean_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [clean_schema(s) if isinstance(s, Mapping) else s for s in value]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if len(kinds) == 1:
                out["type"] = kinds[0]
            if "null" in value:
                out["nullable"] = True
        elif key == "required" and not value:
            continue
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# Answers


def _default_ids() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"call_{next(counter)}"


class GeminiAccumulator:
    """GenerateContentResponse objects to `hermes.messages` events.

    Text is yielded as it arrives; function calls (which Gemini sends whole, without ids) get ids
    from `new_id` and are yielded together by `finish()`, with the last usage and the Finish.
    Only candidate 0 is read; thought parts (`thought: true`) are reasoning. `signatures` maps
    each call's id to the thought signature sent with it, which must go back with the call on
    the next request."""

    def __init__(self, new_id: Callable[[], str] | None = None) -> None:
        self._new_id = new_id or _default_ids()
        self._calls: list[ToolCall] = []
        self.signatures: dict[str, str] = {}
        self._reason: str | None = None
        self._blocked = False
        self._usage: Usage | None = None
        self._saw_response = False
        self._done = False

    def feed_data(self, data: str) -> list[StreamEvent]:
        """One SSE `data:` payload."""
        try:
            parsed = fastjson.loads(data)
        except ValueError as exc:
            raise WireError(f"Gemini sent a stream chunk that is not JSON: {data[:200]!r}") from exc
        return self.feed(parsed)

    def feed(self, response: Any) -> list[StreamEvent]:
        if self._done:
            return []
        if not isinstance(response, dict):
            raise WireError("Gemini sent a response that is not a JSON object.")
        if response.get("error") is not None:
            raise WireError(f"Gemini reported an error: {_error_message(response['error'])}")
        self._saw_response = True
        if response.get("usageMetadata") is not None:
            self._usage = _parse_usage(response["usageMetadata"])  # cumulative: keep the last
        feedback = response.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self._blocked = True
        candidates = response.get("candidates") or []
        if not isinstance(candidates, list):
            raise WireError("Gemini response 'candidates' is not an array.")
        if not candidates:
            return []
        candidate = candidates[0]
        if not isinstance(candidate, dict):
            raise WireError("Gemini response candidate is not an object.")
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason:
            self._reason = reason
        content = candidate.get("content") or {}
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            return []
        events: list[StreamEvent] = []
        for part in parts:
            event = self._part(part)
            if event is not None:
                events.append(event)
        return events

    def _part(self, part: Any) -> TextDelta | ReasoningDelta | None:
        if not isinstance(part, dict):
            return None
        if part.get("thought") is True:
            thought = part.get("text")
            return ReasoningDelta(thought) if isinstance(thought, str) and thought else None
        call = part.get("functionCall")
        if call is not None:
            self._add_call(call, part.get("thoughtSignature"))
            return None
        text = part.get("text")
        if isinstance(text, str) and text:
            return TextDelta(text)
        return None

    def _add_call(self, call: Any, signature: Any) -> None:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise WireError("Gemini sent a functionCall without a name.")
        args = call.get("args")
        args = {} if args is None else args
        if not isinstance(args, dict):
            raise WireError("Gemini sent functionCall 'args' that are not an object.")
        try:
            arguments = fastjson.dumps_text(args)
        except ValueError as exc:
            raise WireError(f"Gemini sent functionCall 'args' {exc}.") from exc
        upstream_id = call.get("id")
        call_id = upstream_id if isinstance(upstream_id, str) and upstream_id else self._new_id()
        self._calls.append(ToolCall(call_id, call["name"], arguments))
        if isinstance(signature, str) and signature:
            self.signatures[call_id] = signature

    def finish(self) -> list[StreamEvent]:
        """The body ended. A finishReason (or a blocked prompt) must have been seen, otherwise the
        answer was cut short."""
        if self._done:
            return []
        if not self._saw_response:
            raise WireError("Gemini ended the answer without sending anything.")
        if self._reason is None and not self._blocked:
            raise WireError("Gemini's answer ended before a finishReason: it was cut short.")
        self._done = True
        events: list[StreamEvent] = []
        if self._calls:
            events.append(ToolCallsReady(tuple(self._calls)))
        if self._usage is not None:
            events.append(UsageReport(self._usage))
        events.append(Finish(finish_reason(self._reason, bool(self._calls), self._blocked)))
        return events

    def whole(self, response: Any) -> list[StreamEvent]:
        """A non-streaming answer: one response object, then the end."""
        return self.feed(response) + self.finish()


def finish_reason(raw: str | None, has_calls: bool, blocked: bool = False) -> str:
    """Gemini's finishReason in OpenAI's vocabulary. Gemini says STOP after function calls."""
    if blocked and raw is None:
        return "content_filter"
    if raw == "MAX_TOKENS":
        return "length"
    if raw in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def _parse_usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        raise WireError("Gemini 'usageMetadata' is not an object.")
    counts = [raw.get(k) or 0 for k in ("promptTokenCount", "candidatesTokenCount")]
    counts.append(raw.get("thoughtsTokenCount") or 0)  # billed as output, as OpenAI counts it
    if not all(fastjson.is_count(n) for n in counts):
        raise WireError(f"Gemini sent token counts that are not counts: {fastjson.preview(raw)}")
    return Usage(counts[0], counts[1] + counts[2])


# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What Google's error body says: message, canonical status ("RESOURCE_EXHAUSTED"), the
    ErrorInfo reasons ("API_KEY_INVALID") and the RetryInfo delay in seconds."""

    message: str
    status: str | None = None
    reasons: tuple[str, ...] = ()
    retry_delay: float | None = None


def parse_error(text: str) -> ErrorInfo:
    """Read `{"error": {"code", "message", "status", "details"}}` (or a one-element array of it,
    as the JSON-array stream sends); anything else becomes the message as is."""
    try:
        data = fastjson.loads(text)  # the stdlib's parser overflows the stack on deep nesting
    except ValueError:
        return ErrorInfo(text.strip()[:300])
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return ErrorInfo(text.strip()[:300])
    status = error.get("status") if isinstance(error.get("status"), str) else None
    reasons: list[str] = []
    delay: float | None = None
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        if isinstance(detail.get("reason"), str):
            reasons.append(detail["reason"])
        retry = detail.get("retryDelay")
        match = _DURATION.match(retry) if isinstance(retry, str) else None
        if match:
            delay = float(match.group(1))
    return ErrorInfo(_error_message(error)[:300], status, tuple(reasons), delay)


def _error_message(error: Any) -> str:
    """An error's message, never empty (a message that ends in ": " tells the user nothing)."""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        text = str(error["message"])
    else:
        text = fastjson.preview(error)
    return text.strip() or "no message"
