"""The file tools against real temporary workspaces: confinement (every way out refused, the ways
within allowed), reading in parts, binary files, size caps, exact patches, listings and searches."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from hermes.config.schema import FileToolConfig, ToolsConfig
from hermes.tools import ToolContext, ToolError, ToolRegistry, filesearch
from hermes.tools.files import (
    FILE_TOOLS,
    list_files,
    patch,
    read_file,
    search_files,
    write_file,
)
from hermes.tools.paths import resolve_in_workspace

OUTSIDE = "refusing path outside the workspace"


def make_ctx(workspace: Path, **file_settings: int) -> ToolContext:
    settings = dataclasses.replace(ToolsConfig(), files=FileToolConfig(**file_settings))
    return ToolContext(workspace, settings, "alice", frozenset(), {"PATH": os.environ["PATH"]})


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("one\ntwo\nthree\n")
    return workspace


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("TOKEN=hunter2\n")
    return folder


async def text_of(result: object) -> str:
    assert isinstance(result, str)
    return result


# --- confinement -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../outside/secret.txt", "a/../../x", "..", "/etc/passwd"])
def test_escapes_are_refused(ws: Path, outside: Path, path: str) -> None:
    with pytest.raises(ToolError, match=OUTSIDE):
        resolve_in_workspace(ws, path)


def test_absolute_paths(ws: Path, outside: Path) -> None:
    assert resolve_in_workspace(ws, str(ws / "notes.txt")) == ws.resolve() / "notes.txt"
    assert resolve_in_workspace(ws, str(ws)) == ws.resolve()
    assert resolve_in_workspace(ws, "") == ws.resolve()
    with pytest.raises(ToolError, match=OUTSIDE):
        resolve_in_workspace(ws, str(outside / "secret.txt"))


def test_symlinks_are_judged_by_their_targets(ws: Path, outside: Path) -> None:
    (ws / "out").symlink_to(outside)
    (ws / "deep").symlink_to(outside / "secret.txt")
    (ws / "dangling").symlink_to(outside / "new.txt")
    (ws / "sub").mkdir()
    (ws / "inner").symlink_to(ws / "sub")
    (outside / "nested").mkdir()
    (ws / "nest").symlink_to(outside / "nested")
    # `nest/..` is `outside`, not the workspace, although the string says otherwise.
    for path in ["out", "out/secret.txt", "deep", "dangling", "nest/../secret.txt"]:
        with pytest.raises(ToolError, match=OUTSIDE):
            resolve_in_workspace(ws, path)
    assert resolve_in_workspace(ws, "inner/x.txt") == ws.resolve() / "sub" / "x.txt"


def test_workspace_may_itself_be_a_symlink(ws: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(ws)
    assert resolve_in_workspace(link, str(link / "notes.txt")) == ws.resolve() / "notes.txt"
    assert resolve_in_workspace(link, str(ws / "notes.txt")) == ws.resolve() / "notes.txt"
    assert resolve_in_workspace(link, "notes.txt", must_exist=True) == ws.resolve() / "notes.txt"


def test_nul_bytes_loops_missing_files_and_workspace(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="NUL byte"):
        resolve_in_workspace(ws, "a\0b")
    (ws / "loop").symlink_to(ws / "loop")
    for path in ["loop", "loop/x"]:
        with pytest.raises(ToolError, match=f"cannot resolve '{path}': symlink loop"):
            resolve_in_workspace(ws, path)
    with pytest.raises(ToolError, match=OUTSIDE):
        resolve_in_workspace(ws, "loop/../../x")
    with pytest.raises(ToolError, match="no such file or directory: 'nope'"):
        resolve_in_workspace(ws, "nope", must_exist=True)
    with pytest.raises(ToolError, match="does not exist"):
        resolve_in_workspace(tmp_path / "missing", "x")


# --- read_file -------------------------------------------------------------------------------


async def test_read_numbers_lines_like_cat_n(ws: Path) -> None:
    (ws / "crlf.txt").write_bytes(b"a\r\nb")
    ctx = make_ctx(ws)
    assert await read_file(ctx, "notes.txt") == "     1\tone\n     2\ttwo\n     3\tthree"
    assert await read_file(ctx, "crlf.txt") == "     1\ta\n     2\tb"


async def test_read_in_parts(ws: Path) -> None:
    (ws / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    ctx = make_ctx(ws)
    out = await text_of(await read_file(ctx, "long.txt", 4, 2))
    assert out == "     4\tline 4\n     5\tline 5\n[lines 4-5 of 10; read on with offset=6]"
    out = await text_of(await read_file(ctx, "long.txt", 9))
    assert out == "     9\tline 9\n    10\tline 10\n[lines 9-10 of 10]"
    with pytest.raises(ToolError, match=r"offset 11 is past the end of long\.txt"):
        await read_file(ctx, "long.txt", 11)
    with pytest.raises(ToolError, match="1 or more"):
        await read_file(ctx, "long.txt", 0)


async def test_read_special_cases(ws: Path) -> None:
    (ws / "empty.txt").write_text("")
    (ws / "dir").mkdir()
    ctx = make_ctx(ws)
    assert await read_file(ctx, "empty.txt") == "empty.txt is empty"
    with pytest.raises(ToolError, match="dir is a directory"):
        await read_file(ctx, "dir")
    with pytest.raises(ToolError, match="no such file"):
        await read_file(ctx, "missing.txt")


async def test_binary_files_are_reported_not_shown(ws: Path) -> None:
    (ws / "img.bin").write_bytes(b"\x89PNG\0" + b"x" * 12_340)
    (ws / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    ctx = make_ctx(ws)
    assert await read_file(ctx, "img.bin") == "binary file, 12,345 bytes; not shown"
    out = await text_of(await read_file(ctx, "latin1.txt"))
    assert out.startswith("binary file (not UTF-8 text), 5 bytes")


async def test_read_stops_at_the_byte_cap(ws: Path) -> None:
    (ws / "big.txt").write_text("".join(f"row {n:05}\n" for n in range(1000)))  # 10 bytes each
    ctx = make_ctx(ws, max_read_bytes=35)
    out = await text_of(await read_file(ctx, "big.txt"))
    assert out.splitlines()[:3] == ["     1\trow 00000", "     2\trow 00001", "     3\trow 00002"]
    assert out.endswith(
        "[stopped at the 35-byte read limit: lines 1-3 of 1,000; read on with offset=4]"
    )
    (ws / "wide.txt").write_text("é" * 40 + "\nnext\n")  # 2 bytes per é: a cut inside one
    out = await text_of(await read_file(ctx, "wide.txt"))
    assert out.startswith("     1\t" + "é" * 17 + "\n[line 1 is longer than the 35-byte read limit")
    assert out.endswith("read on with offset=2]")


async def test_read_through_symlinks(ws: Path, outside: Path) -> None:
    (ws / "leak").symlink_to(outside / "secret.txt")
    (ws / "alias").symlink_to(ws / "notes.txt")
    ctx = make_ctx(ws)
    with pytest.raises(ToolError, match=OUTSIDE):
        await read_file(ctx, "leak")
    with pytest.raises(ToolError, match=OUTSIDE):
        await read_file(ctx, "../outside/secret.txt")
    assert (await text_of(await read_file(ctx, "alias"))).startswith("     1\tone")
    assert (await text_of(await read_file(ctx, str(ws / "notes.txt")))).startswith("     1\tone")


# --- write_file ------------------------------------------------------------------------------


async def test_write_creates_parents_and_keeps_the_mode(ws: Path) -> None:
    ctx = make_ctx(ws)
    assert await write_file(ctx, "a/b/c.txt", "héllo") == "wrote 6 bytes to a/b/c.txt"
    assert (ws / "a/b/c.txt").read_text() == "héllo"
    (ws / "run.sh").write_text("old")
    (ws / "run.sh").chmod(0o755)
    assert await write_file(ctx, "run.sh", "new") == "wrote 3 bytes to run.sh"
    assert (ws / "run.sh").read_text() == "new"
    assert (ws / "run.sh").stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in ws.iterdir()) == ["a", "notes.txt", "run.sh"]  # no temp left


async def test_write_refusals(ws: Path, outside: Path) -> None:
    ctx = make_ctx(ws, max_write_bytes=10)
    with pytest.raises(ToolError, match=r"11 bytes .* over the 10-byte limit"):
        await write_file(ctx, "big.txt", "x" * 11)
    assert not (ws / "big.txt").exists()
    (ws / "leak").symlink_to(outside / "secret.txt")
    (ws / "dangling").symlink_to(outside / "new.txt")
    (ws / "out").symlink_to(outside)
    for path in ["leak", "dangling", "out/new.txt", "../x.txt", "a/../../x.txt", "/tmp/x.txt"]:
        with pytest.raises(ToolError, match=OUTSIDE):
            await write_file(ctx, path, "pwned")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "TOKEN=hunter2\n"
    (ws / "dir").mkdir()
    with pytest.raises(ToolError, match="dir is a directory"):
        await write_file(ctx, "dir", "x")
    with pytest.raises(ToolError, match=r"cannot write notes\.txt/x"):
        await write_file(ctx, "notes.txt/x", "x")


async def test_write_through_an_inside_symlink_keeps_the_link(ws: Path) -> None:
    (ws / "alias").symlink_to(ws / "notes.txt")
    assert await write_file(make_ctx(ws), "alias", "new\n") == "wrote 4 bytes to notes.txt"
    assert (ws / "alias").is_symlink() and (ws / "notes.txt").read_text() == "new\n"


# --- patch -----------------------------------------------------------------------------------


async def test_patch_replaces_exactly_one_match(ws: Path) -> None:
    ctx = make_ctx(ws)
    out = await patch(ctx, "notes.txt", "two\nthree", "2\n3")
    assert out == "patched notes.txt: replaced 1 occurrence at line 2"
    assert (ws / "notes.txt").read_text() == "one\n2\n3\n"


async def test_patch_without_a_match_hints_at_the_closest_line(ws: Path) -> None:
    (ws / "app.py").write_text("def main():\n    return compute(1)\n")
    ctx = make_ctx(ws)
    with pytest.raises(ToolError) as err:
        await patch(ctx, "app.py", "    return compute(2)", "x")
    assert err.value.message == (
        "`old` was not found in app.py; the closest line is 2: '    return compute(1)'. "
        "Read the file again and copy the exact text, whitespace included."
    )
    with pytest.raises(ToolError, match="does match with its leading/trailing whitespace removed"):
        await patch(ctx, "app.py", "  def main():", "x")
    with pytest.raises(ToolError, match=r"not found in app\.py\. Read"):
        await patch(ctx, "app.py", "zzzzzz", "x")
    with pytest.raises(ToolError, match="`old` is empty"):
        await patch(ctx, "app.py", "", "x")
    assert (ws / "app.py").read_text() == "def main():\n    return compute(1)\n"


async def test_patch_with_several_matches_asks_for_context(ws: Path) -> None:
    (ws / "dup.txt").write_text("x = 1\ny = 2\nx = 1\n")
    (ws / "aaa.txt").write_text("aaa")
    ctx = make_ctx(ws)
    with pytest.raises(ToolError, match=r"matches 2 times in dup.txt \(at lines 1, 3\); include"):
        await patch(ctx, "dup.txt", "x = 1", "x = 2")
    with pytest.raises(ToolError, match="matches 2 times"):  # overlapping matches count
        await patch(ctx, "aaa.txt", "aa", "b")
    assert (ws / "dup.txt").read_text() == "x = 1\ny = 2\nx = 1\n"


async def test_patch_refusals(ws: Path, outside: Path) -> None:
    (ws / "leak").symlink_to(outside / "secret.txt")
    (ws / "blob").write_bytes(b"a\0b")
    ctx = make_ctx(ws, max_write_bytes=20)
    with pytest.raises(ToolError, match=OUTSIDE):
        await patch(ctx, "leak", "hunter2", "x")
    with pytest.raises(ToolError, match=OUTSIDE):
        await patch(ctx, "../outside/secret.txt", "hunter2", "x")
    assert (outside / "secret.txt").read_text() == "TOKEN=hunter2\n"
    with pytest.raises(ToolError, match="binary file"):
        await patch(ctx, "blob", "a", "b")
    with pytest.raises(ToolError, match="would be over the 20-byte write limit"):
        await patch(ctx, "notes.txt", "one", "x" * 20)


# --- list_files ------------------------------------------------------------------------------


def make_tree(ws: Path) -> None:
    for rel in ["src/app.py", "src/pkg/util.py", "README.md", "docs/guide.md", "b.py"]:
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text("print('hi')\n")
    for noise in [".git/config.py", "node_modules/m/x.py", "src/__pycache__/app.py"]:
        (ws / noise).parent.mkdir(parents=True, exist_ok=True)
        (ws / noise).write_text("noise\n")


async def test_list_a_folder(ws: Path) -> None:
    make_tree(ws)
    ctx = make_ctx(ws)
    assert (await text_of(await list_files(ctx))).splitlines() == [
        ".git/",
        "README.md  (12 bytes)",
        "b.py  (12 bytes)",
        "docs/",
        "node_modules/",
        "notes.txt  (14 bytes)",
        "src/",
    ]
    assert await list_files(ctx, "src") == "src/__pycache__/\nsrc/app.py  (12 bytes)\nsrc/pkg/"
    with pytest.raises(ToolError, match=r"notes\.txt is not a folder"):
        await list_files(ctx, "notes.txt")


async def test_list_with_a_pattern_is_recursive_without_noise(ws: Path) -> None:
    make_tree(ws)
    ctx = make_ctx(ws)
    assert (await text_of(await list_files(ctx, pattern="**/*.py"))).splitlines() == [
        "b.py  (12 bytes)",
        "src/app.py  (12 bytes)",
        "src/pkg/util.py  (12 bytes)",
    ]
    assert (
        await list_files(ctx, pattern="*.md") == "README.md  (12 bytes)\ndocs/guide.md  (12 bytes)"
    )
    assert await list_files(ctx, pattern="src/*.py") == "src/app.py  (12 bytes)"
    assert (
        await list_files(ctx, "src", "*.py")
        == "src/app.py  (12 bytes)\nsrc/pkg/util.py  (12 bytes)"
    )
    assert await list_files(ctx, pattern="*.rs") == "nothing under . matches '*.rs'"


async def test_list_is_capped(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filesearch, "LIST_LIMIT", 3)
    for n in range(5):
        (ws / f"f{n}.log").write_text("")
    lines = (await text_of(await list_files(make_ctx(ws), pattern="*.log"))).splitlines()
    assert lines[:3] == ["f0.log  (0 bytes)", "f1.log  (0 bytes)", "f2.log  (0 bytes)"]
    assert lines[3] == "[only the first 3 entries are shown; narrow the path or pattern]"


async def test_list_and_symlinks(ws: Path, outside: Path) -> None:
    (ws / "out").symlink_to(outside)
    (ws / "sub").mkdir()
    (ws / "sub" / "x.txt").write_text("x")
    (ws / "inner").symlink_to(ws / "sub")
    ctx = make_ctx(ws)
    for path in ["out", "../outside", str(outside)]:
        with pytest.raises(ToolError, match=OUTSIDE):
            await list_files(ctx, path)
    assert await list_files(ctx, "inner") == "sub/x.txt  (1 bytes)"
    listing = await text_of(await list_files(ctx, pattern="*"))
    assert f"out -> {outside}" in listing and "secret" not in listing


# --- search_files ----------------------------------------------------------------------------


async def test_search_with_a_regex(ws: Path) -> None:
    make_tree(ws)
    (ws / "src/app.py").write_text("import os\n\ndef handler():\n    return os.getcwd()\n")
    ctx = make_ctx(ws)
    assert await search_files(ctx, r"def \w+\(|getcwd") == (
        "src/app.py:3: def handler():\nsrc/app.py:4:     return os.getcwd()"
    )
    assert await search_files(ctx, "hi", "docs") == "docs/guide.md:1: print('hi')"
    assert await search_files(ctx, "^import", "src/app.py") == "src/app.py:1: import os"
    out = await search_files(ctx, "nothing-like-this")
    assert out == "no matches for 'nothing-like-this' under . (6 files searched)"


async def test_search_refusals_and_skips(ws: Path, outside: Path) -> None:
    (ws / "blob.bin").write_bytes(b"\0hunter2")
    (ws / "out").symlink_to(outside)
    (ws / "leak").symlink_to(outside / "secret.txt")
    ctx = make_ctx(ws)
    out = await search_files(ctx, "hunter2")
    assert (
        out
        == "no matches for 'hunter2' under . (1 files searched, 1 binary or large files skipped)"
    )
    with pytest.raises(ToolError, match=r"invalid regex '\(unclosed': missing \)"):
        await search_files(ctx, "(unclosed")
    for path in ["out", "leak", ".."]:
        with pytest.raises(ToolError, match=OUTSIDE):
            await search_files(ctx, "hunter2", path)


async def test_search_is_capped(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filesearch, "MATCH_LIMIT", 2)
    (ws / "many.txt").write_text("hit " + "x" * 400 + "\nhit\nhit\n")
    lines = (await text_of(await search_files(make_ctx(ws), "hit"))).splitlines()
    assert lines[0] == "many.txt:1: hit " + "x" * 295 + "…"
    assert lines[1:] == [
        "many.txt:2: hit",
        "[stopped at 2 matches; narrow the pattern or the path]",
    ]


# --- through the registry --------------------------------------------------------------------


async def test_every_tool_through_the_registry(ws: Path) -> None:
    registry = ToolRegistry(FILE_TOOLS)
    ctx = make_ctx(ws)

    async def call(name: str, **args: object) -> str:
        result = await registry.call(name, json.dumps(args), ctx)
        assert result.ok, result.output
        return result.output

    assert await call("write_file", path="a.txt", content="alpha\n") == "wrote 6 bytes to a.txt"
    assert await call("patch", path="a.txt", old="alpha", new="beta") == (
        "patched a.txt: replaced 1 occurrence at line 1"
    )
    assert await call("read_file", path="a.txt", offset=1, limit=5) == "     1\tbeta"
    assert await call("list_files", path=None, pattern="*.txt") == (
        "a.txt  (5 bytes)\nnotes.txt  (14 bytes)"
    )
    assert await call("search_files", pattern="bet") == "a.txt:1: beta"
    bad = await registry.call("read_file", '{"path": "../x"}', ctx)
    assert not bad.ok and bad.output.startswith(f"error: {OUTSIDE}: '../x'")
    bad = await registry.call("search_files", '{"pattern": "["}', ctx)
    assert not bad.ok and bad.output.startswith("error: invalid regex '['")
    bad = await registry.call("patch", '{"path": "a.txt", "old": "x"}', ctx)
    assert not bad.ok and "missing required argument 'new'" in bad.output
    markers = {
        "read_file": ("📖 a.txt", {"path": "a.txt"}),
        "write_file": ("✍️ b/c.md", {"path": "b/c.md", "content": "x"}),
        "patch": ("🩹 a.txt", {"path": "a.txt", "old": "a", "new": "b"}),
        "list_files": ("📂 src **/*.py", {"path": "src", "pattern": "**/*.py"}),
        "search_files": ("🔍 TODO", {"pattern": "TODO"}),
    }
    for name, (marker, args) in markers.items():
        assert registry.marker(name, json.dumps(args)) == marker
    assert registry.marker("list_files", "{}") == "📂 ."
