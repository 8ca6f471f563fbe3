"""Schemathesis against a real gateway process, from the gateway's own /openapi.json: for every
operation it sends documented examples, generated valid and invalid requests and stateful
sequences (create, then get and delete by the id it got), and checks that no answer is a server
error, each answer's status, content type and body (each streamed event too) is one the document
gives, and a request that breaks the document is refused. Bounded here (`--fuzz-examples`);
`make fuzz` runs longer with a new seed each time."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.gateway_process import Gateway, make_profile, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
    "use_after_free",
)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    with FakeOpenAI.in_thread() as upstream:
        upstream.responder = lambda body: "an answer for the fuzzer"
        home = tmp_path / "home"
        make_profile(home, "alice", upstream.base_url)
        with run_gateway(home, "alice") as gw:
            yield gw


def test_schemathesis_finds_nothing(gateway: Gateway, pytestconfig: pytest.Config) -> None:
    seed = pytestconfig.getoption("--fuzz-seed")
    st = Path(sys.executable).parent / "st"
    argv = [
        str(st),
        "run",
        gateway.url + "/openapi.json",
        "--header",
        f"Authorization: Bearer {gateway.key}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(pytestconfig.getoption("--fuzz-examples")),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        *(() if seed == "random" else ("--seed", seed)),
    ]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "passed" in run.stdout
    log = gateway.log()
    for mark in ("Traceback", "unhandled error"):
        if mark in log:
            pytest.fail("the gateway logged a traceback:\n" + log[log.find(mark) - 300 :][:4000])
