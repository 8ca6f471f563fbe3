"""The config.yaml schema: frozen dataclasses whose fields (types, defaults, docs) are the single
source of truth for loading, validating, `config set` and the README's key table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hermes.config.known import PROVIDER_TYPES, TOOL_NAMES

ToolProgress = Literal["inline", "event", "off"]
ToolClash = Literal["refuse", "profile", "client"]
OnDisconnect = Literal["finish", "cancel"]
WebSearchBackend = Literal["auto", "searxng", "brave", "duckduckgo", "none"]
SandboxMode = Literal["bwrap", "off"]
OnOff = Literal["on", "off"]


def doc(text: str) -> dict[str, str]:
    return {"doc": text}


def bounded(
    text: str, *, above: float | None = None, least: float | None = None, most: float | None = None
) -> dict[str, Any]:
    """`doc` plus the range a number must lie in (above: exclusive minimum, least: inclusive
    minimum, most: inclusive maximum), checked wherever the schema is built."""
    bounds = {"above": above, "least": least, "most": most}
    return {"doc": text, **{k: v for k, v in bounds.items() if v is not None}}


def one_of(
    text: str, choices: tuple[str, ...], *, or_names_of: str | None = None
) -> dict[str, Any]:
    """`doc` plus the names a string (or each string of a list) may be: one of `choices`, or
    the `name` of an entry of the top-level list `or_names_of` (checked once the whole config
    is built, since the entries may come after)."""
    names = {"names_of": or_names_of} if or_names_of else {}
    return {"doc": text, "choices": choices, **names}


def required(text: str) -> dict[str, Any]:
    """`doc` for a key every entry must set (to something other than an empty string)."""
    return {"doc": text, "required": True}


# The least a byte limit may be: 1 KiB. Below that a limit refuses everything it guards (a chat
# request's JSON envelope alone is ~100 bytes) and is a typo, not a setting.
MIN_BYTES = 1024


@dataclass(frozen=True)
class ModelConfig:
    provider: str = field(
        default="openai",
        metadata=one_of(
            "provider type (openai, anthropic, gemini, ollama, local, or a preset such as "
            "openrouter) or the name of an entry of `providers`",
            PROVIDER_TYPES,
            or_names_of="providers",
        ),
    )
    name: str = field(default="gpt-4o-mini", metadata=doc("model id sent to the provider"))
    base_url: str | None = field(
        default=None, metadata=doc("API base URL; the provider's default when unset")
    )
    api_key_env: str | None = field(
        default=None,
        metadata=doc(
            "name of the .env variable holding the key (default: the provider's, "
            "e.g. OPENAI_API_KEY)"
        ),
    )
    temperature: float | None = field(
        default=None, metadata=bounded("sampling temperature", least=0, most=2)
    )
    max_tokens: int | None = field(
        default=None, metadata=bounded("cap on tokens per model reply", least=1)
    )
    timeout: int = field(
        default=120,
        metadata=bounded(
            "seconds without a byte from the provider before the request fails (504)", least=1
        ),
    )
    request_timeout: int = field(
        default=600,
        metadata=bounded(
            "seconds one request to the provider may take in all, even while it keeps sending "
            "(keep-alive comments), before it fails (504)",
            least=1,
        ),
    )
    context_length: int | None = field(
        default=None,
        metadata=bounded(
            "the model's context window in tokens (unset: 4096 for `local`, the bundled model "
            "server's window; 8192 for `ollama`, sent as its `num_ctx`; 128000 otherwise)",
            least=1,
        ),
    )
    fallbacks: list[str] = field(
        default_factory=list,
        metadata=one_of(
            "names of `providers` entries tried in order when the model fails before its "
            "first token",
            (),
            or_names_of="providers",
        ),
    )
    vision: bool | Literal["auto"] = field(
        default="auto",
        metadata=doc(
            "whether the model takes images; auto: when every model of the chain (primary and "
            "fallbacks) is one hermes knows to take them (gpt-4o, claude-3, gemini, llava, ...)"
        ),
    )


@dataclass(frozen=True)
class ProviderEntry:
    name: str = field(
        default="", metadata=required("the name `model.provider` / fallbacks refer to")
    )
    provider: str = field(
        default="openai", metadata=one_of("provider type or preset", PROVIDER_TYPES)
    )
    model: str = field(default="", metadata=required("model id"))
    api_key_env: str | None = field(default=None, metadata=doc("name of the key's .env variable"))
    base_url: str | None = field(default=None, metadata=doc("API base URL"))


@dataclass(frozen=True)
class AgentConfig:
    max_iterations: int = field(
        default=20,
        metadata=bounded(
            "model calls per request before the agent stops (finish_reason `length`)", least=1
        ),
    )
    tool_concurrency: int = field(
        default=8, metadata=bounded("tool calls of one model turn run at once", least=1)
    )
    context_budget: float = field(
        default=0.75,
        metadata=bounded(
            "share of model.context_length the conversation sent to the model may use; older "
            "turns are summarized beyond it",
            above=0,
            most=1,
        ),
    )
    keep_last_turns: int = field(
        default=4,
        metadata=bounded("turns kept verbatim when older ones are summarized", least=0),
    )
    summary_max_tokens: int = field(
        default=1024,
        metadata=bounded("tokens the summary of older turns may take", least=1),
    )


@dataclass(frozen=True)
class TerminalToolConfig:
    timeout: int = field(default=60, metadata=bounded("default command timeout, seconds", least=1))
    max_timeout: int = field(
        default=600, metadata=bounded("largest timeout the model may ask for", least=1)
    )
    output_limit: int = field(
        default=50_000, metadata=bounded("bytes of output kept per command", least=MIN_BYTES)
    )


@dataclass(frozen=True)
class CodeToolConfig:
    timeout: int = field(
        default=60, metadata=bounded("seconds before the Python process is killed", least=1)
    )
    output_limit: int = field(
        default=50_000, metadata=bounded("bytes of output kept", least=MIN_BYTES)
    )


@dataclass(frozen=True)
class FileToolConfig:
    max_read_bytes: int = field(
        default=256_000, metadata=bounded("largest read returned at once", least=MIN_BYTES)
    )
    max_write_bytes: int = field(
        default=5_000_000, metadata=bounded("largest file written", least=MIN_BYTES)
    )


@dataclass(frozen=True)
class MemoryToolConfig:
    max_chars: int = field(
        default=8_000,
        metadata=bounded("size cap of MEMORY.md; it is part of every system prompt", least=1),
    )


@dataclass(frozen=True)
class WebSearchToolConfig:
    backend: WebSearchBackend = field(
        default="auto",
        metadata=doc(
            "auto picks searxng if `searxng_url` is set, brave if BRAVE_API_KEY is, else duckduckgo"
        ),
    )
    searxng_url: str | None = field(default=None, metadata=doc("base URL of a SearxNG instance"))
    max_results: int = field(default=5, metadata=bounded("results returned by default", least=1))
    timeout: int = field(default=15, metadata=bounded("seconds", least=1))


@dataclass(frozen=True)
class WebFetchToolConfig:
    allow_private: bool = field(
        default=False, metadata=doc("allow loopback, private, link-local and metadata addresses")
    )
    timeout: int = field(default=20, metadata=bounded("seconds", least=1))
    max_bytes: int = field(
        default=2_000_000, metadata=bounded("largest page downloaded", least=MIN_BYTES)
    )
    max_chars: int = field(default=40_000, metadata=bounded("text returned to the model", least=1))


@dataclass(frozen=True)
class SandboxLimitsConfig:
    memory_mb: int = field(
        default=2048,
        metadata=bounded(
            "memory of one command, MiB (a cgroup where hermes may make one, else an "
            "address-space rlimit); /tmp inside counts against it",
            least=16,
        ),
    )
    processes: int = field(
        default=512, metadata=bounded("processes and threads of one command", least=8)
    )
    file_size_mb: int = field(
        default=1024, metadata=bounded("largest file one command may write, MiB", least=1)
    )
    open_files: int = field(
        default=1024, metadata=bounded("open files per process of a command", least=16)
    )
    cpu_seconds: int = field(
        default=600, metadata=bounded("CPU seconds per process of a command", least=1)
    )


@dataclass(frozen=True)
class SandboxConfig:
    mode: SandboxMode = field(
        default="bwrap",
        metadata=doc(
            "bwrap: terminal and execute_code run in a bubblewrap sandbox and fail with an "
            "error if none can be made; off: they run unconfined (status and the log say so)"
        ),
    )
    network: OnOff = field(
        default="on", metadata=doc("network inside the sandbox; off leaves only loopback")
    )
    read_only: list[str] = field(
        default_factory=list,
        metadata=doc("more host paths (absolute) visible read-only inside the sandbox"),
    )
    limits: SandboxLimitsConfig = field(default_factory=SandboxLimitsConfig)


@dataclass(frozen=True)
class ToolsConfig:
    enabled: list[str] | None = field(
        default=None, metadata=one_of("tool names the profile offers; unset means all", TOOL_NAMES)
    )
    terminal: TerminalToolConfig = field(default_factory=TerminalToolConfig)
    execute_code: CodeToolConfig = field(default_factory=CodeToolConfig)
    files: FileToolConfig = field(default_factory=FileToolConfig)
    memory: MemoryToolConfig = field(default_factory=MemoryToolConfig)
    web_search: WebSearchToolConfig = field(default_factory=WebSearchToolConfig)
    web_fetch: WebFetchToolConfig = field(default_factory=WebFetchToolConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


@dataclass(frozen=True)
class ApiServerConfig:
    """Every key here is also the environment variable API_SERVER_<KEY>, which wins."""

    enabled: bool = field(
        default=False,
        metadata=doc("serve this profile (new profiles get API_SERVER_ENABLED=true in .env)"),
    )
    host: str = field(default="127.0.0.1", metadata=doc("bind address"))
    port: int = field(
        default=8642, metadata=bounded("port (each profile gets its own)", least=1, most=65535)
    )
    key: str | None = field(
        default=None,
        metadata=doc("bearer key clients must send; keep it in .env as API_SERVER_KEY"),
    )
    cors_origins: list[str] = field(
        default_factory=list, metadata=doc("exact browser origins allowed by CORS")
    )
    allowed_hosts: list[str] = field(
        default_factory=list,
        metadata=doc(
            "names clients may reach the gateway by (the Host header), besides loopback, the bind "
            "address and, bound to 0.0.0.0 or ::, the machine's names; `*` allows any; others get "
            "403"
        ),
    )
    model_name: str | None = field(
        default=None,
        metadata=doc("advertised model id (default: the profile name; `hermes-agent` for default)"),
    )
    tool_progress: ToolProgress = field(
        default="inline", metadata=doc("tool markers in streams: inline, event or off")
    )
    client_tool_clash: ToolClash = field(
        default="refuse",
        metadata=doc(
            "a client's tool named like one of the profile's: refuse (400), profile (the "
            "profile's is offered) or client (the client's is)"
        ),
    )
    show_reasoning: bool = field(
        default=True,
        metadata=doc(
            "send the model's reasoning to clients (chat `reasoning_content`, Responses "
            "`reasoning` items)"
        ),
    )
    max_concurrent_runs: int = field(
        default=32, metadata=bounded("agent runs at once before 429", least=1)
    )
    keepalive_seconds: int = field(
        default=15,
        metadata=bounded("idle seconds before a stream gets a keep-alive comment", least=1),
    )
    max_request_bytes: int = field(
        default=10 * 1024 * 1024,
        metadata=bounded("largest request body accepted", least=MIN_BYTES),
    )
    chat_on_disconnect: OnDisconnect = field(
        default="cancel",
        metadata=doc(
            "a chat completion whose client goes away: cancel, or finish (run to its end, the "
            "answer kept for GET /v1/chat/completions/{id})"
        ),
    )
    session_on_disconnect: OnDisconnect = field(
        default="finish",
        metadata=doc(
            "a session API turn whose client goes away: finish (run to its end, recorded in the "
            "session) or cancel"
        ),
    )
    max_background_runs: int = field(
        default=16,
        metadata=bounded("Responses background runs at once before 429", least=1),
    )
    background_retention_hours: int = field(
        default=24,
        metadata=bounded("hours a finished background run's events are kept", least=1),
    )
    max_stored_responses: int = field(
        default=1000,
        metadata=bounded("Responses API store size; least recently used evicted first", least=1),
    )
    max_image_bytes: int = field(
        default=5 * 1024 * 1024,
        metadata=bounded("largest image a request may carry (decoded)", least=MIN_BYTES),
    )
    max_file_bytes: int = field(
        default=10 * 1024 * 1024,
        metadata=bounded("largest file sent inline or uploaded to /v1/files", least=MIN_BYTES),
    )
    max_file_chars: int = field(
        default=50_000,
        metadata=bounded(
            "characters of a file's extracted text put in the model's context (the rest is cut, "
            "and the model told so)",
            least=1,
        ),
    )
    max_pdf_pages: int = field(
        default=100, metadata=bounded("pages of a PDF whose text is extracted", least=1)
    )
    max_stored_files: int = field(
        default=1000,
        metadata=bounded("files /v1/files keeps for the profile before uploads get 409", least=1),
    )


@dataclass(frozen=True)
class Config:
    description: str = field(default="", metadata=doc("one line shown by `profile list`"))
    model: ModelConfig = field(default_factory=ModelConfig)
    providers: list[ProviderEntry] = field(
        default_factory=list,
        metadata=doc("named provider entries for `model.provider` and `model.fallbacks`"),
    )
    agent: AgentConfig = field(default_factory=AgentConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    api_server: ApiServerConfig = field(default_factory=ApiServerConfig)
