"""Properties of the readers of bytes hermes does not control: whatever a .env file or a profile
archive holds, the reader raises its own error (ConfigError, ArchiveError) or succeeds, never
anything else; and every value the .env writer accepts reads back exactly."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hermes.config import envfile
from hermes.errors import ConfigError
from hermes.profiles import ProfileStore
from hermes.profiles.archive import ArchiveError, import_profile
from hermes.profiles.untrusted import ARCHIVE_ENV
from tests.tarballs import Member, archive_bytes, tar_bytes

# Bounded so the whole file runs in a few seconds: each example writes files (the .env writer
# syncs them), and an archive that imports creates a whole profile.
FAST = settings(max_examples=120, deadline=None)
SLOW = settings(max_examples=40, deadline=None)


@contextmanager
def scratch() -> Iterator[Path]:
    """A folder of its own for one example (hypothesis runs many per test function)."""
    with tempfile.TemporaryDirectory(prefix="hermes-prop-") as tmp:
        yield Path(tmp)


# --- .env ---------------------------------------------------------------------------------------

ENV_FRAGMENTS = [
    b"KEY=",
    b"export ",
    b"A_1 = ",
    b"API_SERVER_PORT=",
    b'"',
    b"'",
    b"\\",
    b"\\n",
    b"#",
    b" ",
    b"\t",
    b"\n",
    b"\r\n",
    b"\r",
    b"=",
    b"x",
    b"\xff",
    b"\xe9",
    b"\xc2\x85",
    "\u2028".encode(),
    b"\x0b\x0c\x1c\x1d\x1e",
    b"\x00",
]
ENV_BYTES = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(ENV_FRAGMENTS) | st.binary(max_size=4), max_size=40).map(b"".join),
)
# Values as a user might type them: any text, with the characters the format cares about often.
VALUES = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list("\"'\\# =\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\n\r\x00$`")),
    ),
    max_size=40,
)
KEYS = st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True)


def accepted(key: str, value: str) -> bool:
    try:
        envfile.validate_value(key, value)
    except ConfigError:
        return False
    return True


@FAST
@given(ENV_BYTES)
def test_env_reader_raises_only_config_error(data: bytes) -> None:
    with scratch() as tmp:
        path = tmp / ".env"
        path.write_bytes(data)
        try:
            values = envfile.read(path)
        except ConfigError as exc:
            assert exc.message.startswith(f"{path}:") and "not valid UTF-8" in exc.message
            assert "\n" not in exc.message
            return
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
        assert all("\n" not in k + v for k, v in values.items())


@FAST
@given(ENV_BYTES, KEYS, VALUES)
def test_env_update_of_any_file_changes_only_its_key(data: bytes, key: str, value: str) -> None:
    with scratch() as tmp:
        path = tmp / ".env"
        path.write_bytes(data)
        try:
            before = envfile.read(path)
        except ConfigError:
            before = None
        try:
            envfile.update(path, {key: value})
        except ConfigError as exc:  # a file that is not UTF-8, or a value refused
            assert before is None or not accepted(key, value), exc.message
            assert path.read_bytes() == data
            return
        assert before is not None and accepted(key, value)
        assert envfile.read(path) == {**before, key: value}


@FAST
@given(st.dictionaries(KEYS, VALUES, max_size=6), VALUES)
def test_env_values_the_writer_accepts_read_back_exactly(
    values: dict[str, str], later: str
) -> None:
    values = {k: v for k, v in values.items() if accepted(k, v)}
    with scratch() as tmp:
        path = tmp / ".env"
        envfile.update(path, dict(values))
        assert envfile.read(path) == values
        if accepted("LATER", later):  # the next edit rewrites every line: they still hold
            envfile.update(path, {"LATER": later})
            assert envfile.read(path) == {**values, "LATER": later}


# --- profile archives -----------------------------------------------------------------------


def import_only_archive_errors(data: bytes) -> None:
    """Import `data` as an archive into a fresh HERMES_HOME: it is imported, or refused with an
    ArchiveError naming the archive that leaves nothing behind."""
    with scratch() as tmp:
        store = ProfileStore(tmp / "home")
        archive = tmp / "in.tar.gz"
        archive.write_bytes(data)
        try:
            imported = import_profile(store, archive)
        except ArchiveError as exc:
            assert exc.message.startswith(str(archive)) and "\n" not in exc.message
            assert not store.profiles_dir.exists() or os.listdir(store.profiles_dir) == []
            return
        assert store.names() == [imported.created.profile.name]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
NAMES = st.sampled_from(["evil", "evil\n", "Evil", "", "default", "x" * 40, "..", "a b", "ok_1"])
MANIFESTS = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"name": NAMES | JSON},
        optional={
            "format": JSON,
            "env": JSON
            | st.dictionaries(
                st.sampled_from([*ARCHIVE_ENV, "API_SERVER_PORT", "OPENAI_API_KEY", "X"]), VALUES
            ),
        },
    ),
).map(lambda value: json.dumps(value).encode())
CONFIGS = st.sampled_from(
    [
        b"model:\n  name: m\n",
        b"model: [unclosed\n",
        b"api_server:\n  host: 0.0.0.0\n  port: 1\n",
        b"anchor: &h {host: 0.0.0.0}\napi_server:\n  <<: *h\n",
        b"model:\n  name: a\n  name: b\n",
        b"tools:\n  sandbox: {mode: off}\n",
        b"- a list\n",
        b"model:\n  timeout: 0\n",
        b"a: " + b"[" * 900 + b"]" * 900 + b"\napi_server: {host: x}\n",
        b"\xff\xfe",
    ]
) | st.binary(max_size=60)
PATHS = st.sampled_from(
    ["hermes-profile.json", "config.yaml", "SOUL.md", "memory", "memory/MEMORY.md", "workspace"]
)
KINDS = st.sampled_from(
    [tarfile.REGTYPE] * 6
    + [tarfile.DIRTYPE] * 2
    + [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE]
)


@st.composite
def plausible_archives(draw: st.DrawFn) -> bytes:
    """A tar.gz shaped like an export: a top folder, a manifest, maybe a config.yaml, members
    of every kind, now and then a size its data does not have or a stream cut short."""
    top = draw(st.sampled_from(["evil"] * 12 + ["Evil", ".", "", "a/b"]))
    members = [Member(f"{top}/hermes-profile.json", draw(MANIFESTS))]
    if draw(st.booleans()):
        members.append(Member(f"{top}/config.yaml", draw(CONFIGS)))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(PATHS | st.text(alphabet="ab./-_\n", max_size=12))
        kind = draw(KINDS)
        data = draw(st.binary(max_size=40)) if kind == tarfile.REGTYPE else b""
        size = draw(st.none() | st.none() | st.integers(0, 5000))
        inside = draw(st.integers(0, 7)) > 0
        members.append(Member(f"{top}/{name}" if inside else name, data, kind, size))
    members = draw(st.permutations(members))
    raw = archive_bytes(members, end=draw(st.booleans()))
    if draw(st.integers(0, 7)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


@FAST
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_an_archive_error(data: bytes) -> None:
    import_only_archive_errors(data)


@FAST
@given(st.binary(max_size=2000))
def test_arbitrary_gzip_contents_are_an_archive_error(data: bytes) -> None:
    import gzip

    import_only_archive_errors(gzip.compress(data, mtime=0))


@SLOW
@given(st.lists(st.binary(min_size=512, max_size=512), max_size=4))
def test_arbitrary_tar_blocks_are_an_archive_error(blocks: list[bytes]) -> None:
    import gzip

    header = tar_bytes([Member("evil/hermes-profile.json", b"{}")], end=False)
    import_only_archive_errors(gzip.compress(header + b"".join(blocks), mtime=0))


@SLOW
@given(plausible_archives())
def test_archives_shaped_like_an_export_import_or_are_an_archive_error(data: bytes) -> None:
    import_only_archive_errors(data)
