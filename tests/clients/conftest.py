"""Client-compatibility suite (`make test-clients`): client libraries nobody here wrote, against
a real gateway process and the scripted fake upstream. Outside `make test`'s testpaths: it
needs the `clients` extra and tests/clients/js/node_modules, which `make test-clients` installs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clients.scenarios import NOTE_PATH, NOTE_TEXT
from tests.e2e.gateway_process import Gateway, alice_gateway
from tests.fakes.openai_upstream import FakeOpenAI

# Client-side tools (issue 15 item 3) are not on main yet: the tests marked `client_tools` are
# written to OpenAI's semantics and skipped until then. The one switch: set this to None.
CLIENT_TOOLS_PENDING: str | None = "client-side tools land with issue 15 item 3"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CLIENT_TOOLS_PENDING is None:
        return
    for item in items:
        if item.get_closest_marker("client_tools"):
            item.add_marker(pytest.mark.skip(reason=CLIENT_TOOLS_PENDING))


@pytest.fixture(scope="module")
def gw(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Profile `alice` served by a real gateway, progress as events, a note in its workspace."""
    home = tmp_path_factory.mktemp("clients-home")
    with alice_gateway(home, upstream.base_url, api_server__tool_progress="event") as gateway:
        workspace = home / "profiles" / "alice" / "workspace"
        (workspace / NOTE_PATH).write_text(NOTE_TEXT)
        yield gateway
