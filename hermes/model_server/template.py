"""How a conversation becomes text for the bundled model, and how its reply is sampled.

The GGUF is Gemma 3 270M *base*, not instruction-tuned: given Gemma's turn markers it never
ends its turn and runs on to the token cap (0 of 10 replies ended, with or without example
turns). It continues a plain transcript well, though: a line of persona, a few example turns
showing short helpful answers, the conversation as "User: …" / "Assistant: …" lines, then
"Assistant:" for it to complete. It stops by itself at the blank line that ends a turn (30 of 30
through a gateway, scripts/bench_local_replies.py; the README's Performance section has the
formats tried). What it writes is short and usually on the topic; its facts are often wrong."""

from __future__ import annotations

from collections.abc import Sequence

from hermes.messages import Message

USER, ASSISTANT = "User", "Assistant"
# When no system message says who is talking (a client of `hermes model serve` alone).
DEFAULT_PERSONA = (
    "A conversation between a user and a helpful assistant that answers in one or two short "
    "sentences."
)
# Short answers of the kinds people first ask, none of them a benchmark prompt. They show the
# model the shape of a reply more than they teach it anything.
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Hi there!", "Hello! How can I help you today?"),
    ("What is the capital of Japan?", "The capital of Japan is Tokyo."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
    (
        "How do I make tea?",
        "Boil water, pour it over a tea bag, wait three minutes, then take the bag out.",
    ),
    ("What is 10 minus 4?", "10 minus 4 is 6."),
    ("How do you say 'thank you' in Spanish?", "In Spanish, 'thank you' is 'gracias'."),
    (
        "Summarize in one sentence: the shop opens late on Sundays because the owner visits "
        "her family in the morning.",
        "The shop opens late on Sundays for family visits.",
    ),
    ("Thanks a lot!", "You're welcome! Happy to help."),
)
# A blank line ends a turn; a new "User:" line is the model writing the user's part.
STOP = ("\n\n", f"\n{USER}:", "<end_of_turn>")
MAX_TOKENS = 160  # when the request sets none: a reply of a few sentences, ~3.5 s at worst here
TEMPERATURE = 0.2  # low: at 0.7 it wandered off the question more often, at 0 it was no better
TOP_P = 0.95
REPEAT_PENALTY = 1.1  # keeps a reply that reaches the token cap from looping on one phrase


def render(messages: Sequence[Message]) -> str:
    """The transcript the model completes: the system text (or a default persona), the example
    turns, the conversation, and an open assistant turn."""
    system = "\n".join(m.content or "" for m in messages if m.role == "system").strip()
    turns: list[tuple[str, str]] = []
    for question, answer in EXAMPLES:
        turns += [(USER, question), (ASSISTANT, answer)]
    for m in messages:
        if m.role != "system":
            # Tool results (no tools are offered, but a client may send them) read as user turns.
            turns.append((ASSISTANT if m.role == "assistant" else USER, (m.content or "").strip()))
    text = (system or DEFAULT_PERSONA) + "\n\n"
    for speaker, said in turns:
        # A blank line after each answer, as in the examples: the turn's end the model learns.
        text += f"{speaker}: {said}\n" + ("\n" if speaker == ASSISTANT else "")
    return text + f"{ASSISTANT}:"


def stops(extra: Sequence[str] = ()) -> list[str]:
    return [*STOP, *(s for s in extra if s not in STOP)]
