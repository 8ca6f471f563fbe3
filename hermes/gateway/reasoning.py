"""The model's reasoning in the Responses API's output: one `reasoning` item per stretch of
reasoning (it comes before the message or tool calls of its model turn), with its stream events:
output_item.added, reasoning_summary_part.added, reasoning_summary_text.delta*,
reasoning_summary_text.done, reasoning_summary_part.done, output_item.done."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hermes.wire.openai_responses import EventSequence, new_id, reasoning_item


@dataclass
class ReasoningItems:
    """Appends reasoning items to `items` (the response's output, shared with its other items)
    and builds their stream events when `seq` is given."""

    items: list[dict[str, Any]]
    seq: EventSequence | None = None
    _index: int | None = None  # of the reasoning item being written
    _text: list[str] = field(default_factory=list)

    def delta(self, text: str) -> list[dict[str, Any]]:
        events = self._open() if self._index is None else []
        assert self._index is not None
        self._text.append(text)
        if self.seq is not None:
            item_id = self.items[self._index]["id"]
            events.append(self.seq.reasoning_summary_text_delta(item_id, self._index, text))
        return events

    def close(self) -> list[dict[str, Any]]:
        """End the item being written, if any: reasoning is over once anything else comes."""
        if self._index is None:
            return []
        index, text = self._index, "".join(self._text)
        item = reasoning_item(self.items[index]["id"], text)
        self.items[index] = item
        self._index = None
        if self.seq is None:
            return []
        return [
            self.seq.reasoning_summary_text_done(item["id"], index, text),
            self.seq.reasoning_summary_part(item["id"], index, text, done=True),
            self.seq.output_item_done(index, item),
        ]

    def _open(self) -> list[dict[str, Any]]:
        item = reasoning_item(new_id("rs_"), None)
        self.items.append(item)
        self._index, self._text = len(self.items) - 1, []
        if self.seq is None:
            return []
        return [
            self.seq.output_item_added(self._index, item),
            self.seq.reasoning_summary_part(item["id"], self._index, "", done=False),
        ]
