"""Which requests are Open WebUI's background tasks (answered without the agent)."""

from __future__ import annotations

from hermes.gateway.tasks import is_background_task
from hermes.messages import Message

TITLE = "### Task:\nGenerate a title.\n### Chat History:\n<chat_history>\nUSER: hi\n</chat_history>"
FOLLOW_UPS = "### Task:\nSuggest 3-5 follow-up questions.\n### Output:\nJSON format: {...}"


def test_open_webui_task_prompts_are_recognised() -> None:
    assert is_background_task([Message("user", TITLE)])
    assert is_background_task([Message("system", "x"), Message("user", "  " + FOLLOW_UPS)])


def test_a_users_own_message_is_an_agent_run() -> None:
    assert not is_background_task([Message("user", "### Task: fix the build, then run tests")])
    assert not is_background_task([Message("user", "please summarise <chat_history>")])
    assert not is_background_task([Message("user", TITLE), Message("user", "now do it")])
    assert not is_background_task([Message("assistant", TITLE)])
    assert not is_background_task([])
