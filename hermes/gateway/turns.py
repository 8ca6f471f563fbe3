"""What a chat client does not see of a turn that ended in its own tool calls.

When the model calls a client tool and one of the profile's tools in the same answer, the
gateway runs its own, then hands the client only the client's calls (a client runs every call it
is given). The client's next request carries that turn back as an assistant message with just
those calls; without the rest, the model would never see what the profile's tools returned and
might run them again. So the gateway remembers, per caller, the whole answer and its tools'
results, and puts them back. A bounded memory: a restarted gateway, or a turn evicted, costs the
model those results, nothing else (the conversation stays valid)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from hermes.errors import InvalidRequest
from hermes.messages import Message, ToolCall

MAX_TURNS = 1024


@dataclass(frozen=True, slots=True)
class _Turn:
    answer: Message  # the assistant message with every call of the answer
    results: tuple[Message, ...]  # the profile's tools' results


class HandedTurns:
    def __init__(self, limit: int = MAX_TURNS) -> None:
        self._limit = limit
        self._turns: OrderedDict[tuple[str, frozenset[str]], _Turn] = OrderedDict()

    def remember(
        self, caller: str, transcript: Sequence[Message], handed: Sequence[ToolCall]
    ) -> None:
        """`transcript` ends with the answer that made the `handed` calls, then the results of
        the profile's tools it called; nothing to keep when it called the client's tools only."""
        for i in range(len(transcript) - 1, -1, -1):
            answer = transcript[i]
            if answer.role == "assistant" and answer.tool_calls:
                break
        else:
            return
        if len(answer.tool_calls) == len(handed):
            return
        key = (caller, frozenset(c.id for c in handed))
        self._turns[key] = _Turn(answer, tuple(transcript[i + 1 :]))
        self._turns.move_to_end(key)
        while len(self._turns) > self._limit:
            self._turns.popitem(last=False)

    def restore(self, caller: str, messages: Sequence[Message]) -> list[Message]:
        """`messages` with each remembered turn of this caller's whole again."""
        out: list[Message] = []
        for message in messages:
            turn = None
            if message.role == "assistant" and message.tool_calls:
                turn = self._turns.get((caller, frozenset(c.id for c in message.tool_calls)))
            if turn is None:
                out.append(message)
            else:
                out += [turn.answer, *turn.results]
        return out


def check_tool_outputs(history: Sequence[Message], new: Sequence[Message]) -> None:
    """A Responses turn that continues one ended in client calls must bring every call's
    output, and an output must answer a call that was made: OpenAI refuses both with a 400, and
    an upstream would too, later and less clearly."""
    made = {c.id for m in (*history, *new) for c in m.tool_calls}
    for m in new:
        if m.role == "tool" and m.tool_call_id not in made:
            raise InvalidRequest(
                f"No tool call found for function call output with call_id {m.tool_call_id!r}.",
                param="input",
            )
    answered = {m.tool_call_id for m in (*history, *new) if m.role == "tool"}
    last = next((m for m in reversed(history) if m.role == "assistant"), None)
    # The last answer of the history, and any call the client sends in its input (store:
    # false: it keeps the history itself).
    calls = [
        *(last.tool_calls if last is not None else ()),
        *(c for m in new for c in m.tool_calls),
    ]
    for call in calls:
        if call.id not in answered:
            raise InvalidRequest(
                f"No tool output found for function call {call.id!r}.", param="input"
            )
