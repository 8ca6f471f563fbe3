"""Client-compatibility suite (`make test-clients`): client libraries nobody here wrote, against
a real gateway process and the scripted fake upstream. Outside `make test`'s testpaths: it
needs the `clients` extra and tests/clients/js/node_modules, which `make test-clients` installs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clients.scenarios import NOTE_PATH, NOTE_TEXT
from tests.e2e.gateway_process import Gateway, alice_gateway
from tests.fakes.openai_upstream import FakeOpenAI


@pytest.fixture(scope="module")
def gw(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Profile `alice` served by a real gateway, progress as events, a note in its workspace."""
    home = tmp_path_factory.mktemp("clients-home")
    with alice_gateway(home, upstream.base_url, api_server__tool_progress="event") as gateway:
        workspace = home / "profiles" / "alice" / "workspace"
        (workspace / NOTE_PATH).write_text(NOTE_TEXT)
        yield gateway
