"""GET /openapi.json is one truth with the gateway: every route is documented, every documented
example is answered (and the answer matches its documented schema), every documented request
field is one its parser reads and checks, and the parsers read no field the document omits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from aiohttp.test_utils import TestClient

from hermes.errors import HermesError, InvalidRequest
from hermes.gateway.app import create_app
from hermes.gateway.openapi import ERRORS, document
from hermes.gateway.session_chat import parse_chat
from hermes.gateway.settings import load
from hermes.profiles import ProfileStore
from hermes.wire import acp
from hermes.wire.openai_chat import parse_chat_request
from hermes.wire.openai_responses import parse_responses_request
from tests.unit.test_gateway_app import Echo, client_for

DOC = document()
COMPONENTS = DOC["components"]["schemas"]
METHODS = ("get", "post", "delete")
# Request bodies and the parser of each (the session API's new_session checks two fields inline).
PARSERS = {
    "ChatCompletionRequest": parse_chat_request,
    "ResponsesRequest": parse_responses_request,
    "SessionChatRequest": parse_chat,
    "AcpRequest": acp.parse_request,
}


def validator(schema: dict[str, Any]) -> Any:
    """A validator for a schema that may point into the document's components."""
    root = {**schema, "components": DOC["components"]}
    return jsonschema_rs.validator_for(root)


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def examples() -> Iterator[tuple[str, str, Any]]:
    for path, method, op in operations():
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        for name, example in content.get("examples", {}).items():
            yield f"{method.upper()} {path} {name}", path, example["value"]


def test_the_document_is_openapi_3_1_with_every_route_of_the_app(store: ProfileStore) -> None:
    loaded = load(store.get("default"), {})
    app = create_app(store.get("default"), loaded.config, loaded.settings, provider=Echo())
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = str(info.get("path") or info.get("formatter"))
        if route.method in ("GET", "POST", "DELETE"):
            known = path.startswith(("/v1/", "/api/", "/openapi"))
            routes.add((route.method.lower(), path if known else "/v1" + path))
    documented = {(method, path) for path, method, _ in operations()}
    assert DOC["openapi"] == "3.1.0"
    assert routes == documented
    for _path, _method, op in operations():
        assert op["operationId"] and op["summary"] and "200" in op["responses"]


@pytest.mark.parametrize(("label", "path", "body"), list(examples()), ids=lambda v: str(v)[:60])
async def test_every_documented_example_is_answered_as_documented(
    aiohttp_client: Any, store: ProfileStore, label: str, path: str, body: Any
) -> None:
    client: TestClient[Any, Any] = await client_for(
        aiohttp_client, store, Echo(), API_SERVER_KEY=""
    )
    r = await client.post(path, json=body)
    assert r.status == 200, (label, await r.text())
    answers = DOC["paths"][path]["post"]["responses"]["200"]["content"]
    if r.content_type == "text/event-stream":
        events = [e for e in (await r.text()).split("\n\n") if e.startswith(("data:", "event:"))]
        check = validator(answers["text/event-stream"]["schema"])
        for raw in events:
            fields = dict(line.split(": ", 1) for line in raw.splitlines() if ": " in line)
            assert check.is_valid(fields), (label, raw)
            if fields["data"] != "[DONE]":
                json.loads(fields["data"])
        assert events, label
    else:
        assert validator(answers["application/json"]["schema"]).is_valid(await r.json()), label


def _wrong_value(schema: dict[str, Any]) -> Any:
    """A JSON value the property's schema refuses."""
    check = validator(schema)
    candidates: tuple[Any, ...] = (12345, "wrong", {"wrong": [1]}, [], True, -1)
    for candidate in candidates:
        if not check.is_valid(candidate):
            return candidate
    raise AssertionError(f"every candidate fits {schema}")


def _fields(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property path of an object schema, nested objects included (not array items)."""
    for name, sub in schema.get("properties", {}).items():
        yield prefix + name, sub
        if sub.get("type") == "object":
            yield from _fields(sub, f"{prefix}{name}.")


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(body))
    *parents, last = path.split(".")
    at = out
    for part in parents:
        at = at.setdefault(part, {})
    at[last] = value
    return out


def _first_example(component: str) -> Any:
    for _label, path, body in examples():
        op = DOC["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        if op["schema"]["$ref"].endswith("/" + component):
            return body
    raise AssertionError(component)


@pytest.mark.parametrize("component", sorted(PARSERS))
def test_every_documented_field_is_checked_by_its_parser(component: str) -> None:
    """A documented field given a value its schema refuses is a 400 naming that field: so each
    documented field is one the parser reads, with the documented type."""
    parse, body = PARSERS[component], _first_example(component)
    parse(body)
    for path, schema in _fields(COMPONENTS[component]):
        wrong = _wrong_value(schema)
        with pytest.raises(InvalidRequest) as refused:
            parse(_with(body, path, wrong))
            pytest.fail(f"{path} = {wrong!r} accepted")
        assert refused.value.param is not None, (path, wrong)
        assert refused.value.param.split("[")[0] in (path, path.split(".")[0]), (
            path,
            refused.value.param,
        )


class Recording(dict[str, Any]):
    """A JSON object that remembers which of its fields a parser asked for, at which path."""

    def __init__(self, data: dict[str, Any], path: str, seen: set[str]) -> None:
        super().__init__({k: wrap(v, f"{path}{k}", seen) for k, v in data.items()})
        self._path, self._seen = path, seen

    def get(self, key: str, default: Any = None) -> Any:
        self._seen.add(self._path + key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self._seen.add(self._path + key)
        return super().__getitem__(key)


def wrap(value: Any, path: str, seen: set[str]) -> Any:
    if isinstance(value, dict):
        return Recording(value, path + "." if path else "", seen)
    if isinstance(value, list):
        return [wrap(v, path + "[]", seen) for v in value]
    return value


def _documented(schema: Any, path: str, out: set[str]) -> None:
    """Every property path a schema (and what it points to) documents, arrays as []."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        _documented(COMPONENTS[schema["$ref"].rsplit("/", 1)[1]], path, out)
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            _documented(branch, path, out)
    for name, sub in schema.get("properties", {}).items():
        out.add(path + name)
        _documented(sub, path + name + ".", out)
    if "items" in schema:
        _documented(schema["items"], path.rstrip(".") + "[].", out)


@pytest.mark.parametrize("component", sorted(PARSERS))
def test_parsers_read_no_field_the_document_omits(component: str) -> None:
    documented: set[str] = set()
    _documented(COMPONENTS[component], "", documented)
    for _label, path, body in examples():
        ref = DOC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        if not ref["$ref"].endswith("/" + component):
            continue
        seen: set[str] = set()
        PARSERS[component](wrap(body, "", seen))
        assert seen <= documented, sorted(seen - documented)


async def test_the_document_is_served_without_a_key(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, Echo(), API_SERVER_KEY="sk-" + "k" * 40)
    r = await client.get("/openapi.json")
    assert r.status == 200 and r.content_type == "application/json"
    assert await r.json() == json.loads(json.dumps(DOC))
    assert (await client.get("/v1/models")).status == 401


def _subclasses(cls: type[HermesError]) -> Iterator[type[HermesError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_readme_lists_every_error_code_a_client_can_get_with_its_status() -> None:
    import re
    from pathlib import Path

    import hermes.errors as errors
    from hermes.wire import anthropic, gemini, ollama, openai_chat  # noqa: F401 (their errors)

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = set(re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", readme, re.MULTILINE))
    cli_only = {errors.ConfigError, errors.ProfileNotFound}
    for cls in _subclasses(errors.HermesError):
        module = cls.__module__
        if cls in cli_only or not module.startswith(("hermes.errors", "hermes.wire")):
            continue
        assert (str(cls.status), cls.code) in table, cls
        assert cls.status in ERRORS, cls
    assert ("405", "method_not_allowed") in table
