"""Gateway logs: RotatingLog, capture, LastLines, tail, follow, and `hermes logs`."""

from __future__ import annotations

import asyncio
import functools
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from hermes.cli.app import HermesGroup
from hermes.cli.logs_cmds import logs
from hermes.cli.state import State
from hermes.profiles import ProfileStore
from hermes.supervisor import logs as logfiles
from hermes.supervisor.logs import LastLines, RotatingLog, capture, chunks, follow, tail


def read(path: Path) -> bytes:
    return path.read_bytes()


def files_of(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


# -- RotatingLog ---------------------------------------------------------------------------------


def test_rotation_keeps_exactly_backups_old_files(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "gateway.log"
    with RotatingLog(path, max_bytes=10, backups=3) as log:
        for i in range(10):
            log.write(f"line-{i:03}\n".encode())  # 9 bytes: each write fills a file
    assert files_of(path) == ["gateway.log", "gateway.log.1", "gateway.log.2", "gateway.log.3"]
    assert read(path) == b"line-009\n"
    assert read(logfiles.backup_path(path, 1)) == b"line-008\n"
    assert read(logfiles.backup_path(path, 3)) == b"line-006\n"


def test_rotation_with_no_backups_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    with RotatingLog(path, max_bytes=10, backups=0) as log:
        log.write(b"aaaa\nbbbb\n")
        log.write(b"cccc\n")
    assert files_of(path) == ["gateway.log"]
    assert read(path) == b"cccc\n"


def test_rotation_happens_at_line_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    with RotatingLog(path, max_bytes=20, backups=5) as log:
        log.write(b"0123456789\n")  # 11 bytes
        log.write(b"abcdef\nghijklmnop\n")  # 18: "abcdef\n" still fits, the rest does not
    assert read(logfiles.backup_path(path, 1)) == b"0123456789\nabcdef\n"
    assert read(path) == b"ghijklmnop\n"


def test_a_partial_line_is_finished_before_rotating(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    with RotatingLog(path, max_bytes=10, backups=5) as log:
        log.write(b"12345678")
        log.write(b"9abc\nnext\n")  # over the limit, but the file's last line ends first
    assert read(logfiles.backup_path(path, 1)) == b"123456789abc\n"
    assert read(path) == b"next\n"


def test_a_line_longer_than_max_bytes_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    long = b"x" * 50 + b"\n"
    with RotatingLog(path, max_bytes=10, backups=5) as log:
        log.write(b"short\n")
        log.write(long + b"after\n")
    assert read(logfiles.backup_path(path, 2)) == b"short\n"
    assert read(logfiles.backup_path(path, 1)) == long
    assert read(path) == b"after\n"


def test_output_without_newlines_is_not_held_back(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    with RotatingLog(path, max_bytes=10, backups=9) as log:
        for _ in range(5):
            log.write(b"abcdefgh")  # never a newline: split at the limit, nothing kept in memory
        log.flush()
        total = b"".join(read(p) for p in sorted(tmp_path.iterdir(), reverse=True))
    assert total == b"abcdefgh" * 5
    assert all(p.stat().st_size <= 10 for p in tmp_path.iterdir())


def test_log_file_is_private_and_size_is_tracked(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "gateway.log"
    log = RotatingLog(path, max_bytes=100)
    assert not path.exists()  # opened lazily
    log.write(b"hello\n")
    log.flush()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert log.size == 6
    log.rotate()
    log.write(b"again\n")
    log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(logfiles.backup_path(path, 1).stat().st_mode) == 0o600


def test_reopening_an_existing_log_continues_its_size(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_bytes(b"12345678")  # ends mid-line, mode 0644
    path.chmod(0o644)
    with RotatingLog(path, max_bytes=10) as log:
        log.write(b"9\nmore\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read(logfiles.backup_path(path, 1)) == b"123456789\n"
    assert read(path) == b"more\n"


# -- capture / LastLines -------------------------------------------------------------------------


async def test_capture_from_a_real_subprocess(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "for i in range(2000): print(f'line {i:04} ' + 'x' * 40)\n"
        "sys.stderr.write('to stderr\\n')\n"
        "sys.stdout.write('no newline at the end')\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    path = tmp_path / "gateway.log"
    seen: list[bytes] = []
    log = RotatingLog(path, max_bytes=32 * 1024, backups=5)
    try:
        await asyncio.wait_for(capture(chunks(proc.stdout), log, on_line=seen.append), 10)
    finally:
        log.close()
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    expected = [f"line {i:04} {'x' * 40}\n".encode() for i in range(2000)]
    assert seen[:2000] == expected
    assert set(seen[2000:]) == {b"to stderr\n", b"no newline at the end"}
    files = [logfiles.backup_path(path, i) for i in range(3, 0, -1)] + [path]
    assert all(f.exists() for f in files)  # ~100 KB in 32 KB files
    assert all(read(f).endswith(b"\n") for f in files[:-1])  # rotated at line boundaries
    assert b"".join(read(f) for f in files) == b"".join(seen)


async def test_capture_joins_lines_split_across_chunks(tmp_path: Path) -> None:
    reader = asyncio.StreamReader()
    for piece in (b"hel", b"lo\nwor", b"ld\n\n", "caf\u00e9\n".encode()[:4], b"\xa9\n"):
        reader.feed_data(piece)
    reader.feed_eof()
    last = LastLines(3)
    with RotatingLog(tmp_path / "gateway.log") as log:
        await capture(chunks(reader), log, on_line=last.add)
    assert last.lines() == ["world", "", "caf\u00e9"]
    assert read(tmp_path / "gateway.log") == "hello\nworld\n\ncaf\u00e9\n".encode()


async def test_capture_keeps_draining_when_the_log_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    reader = asyncio.StreamReader()
    reader.feed_data(b"a\nb\n")
    reader.feed_eof()
    seen: list[bytes] = []
    await capture(chunks(reader), RotatingLog(blocker / "gateway.log"), on_line=seen.append)
    assert seen == [b"a\n", b"b\n"]


def test_last_lines_keeps_the_newest_decoded() -> None:
    last = LastLines(2)
    assert last.lines() == []
    for line in (b"one\n", b"two\r\n", b"bad \xff\n"):
        last.add(line)
    assert last.lines() == ["two", "bad \ufffd"]
    assert len(last) == 2


# -- tail ----------------------------------------------------------------------------------------


def test_tail_continues_into_the_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    write_lines(logfiles.backup_path(path, 1), [f"old {i}" for i in range(10)])
    write_lines(path, ["new 0", "new 1"])
    assert tail(path, 2) == ["new 0", "new 1"]
    assert tail(path, 4) == ["old 8", "old 9", "new 0", "new 1"]
    assert len(tail(path, 100)) == 12
    assert tail(path, 0) == []
    assert tail(tmp_path / "missing.log", 5) == []


def test_tail_edge_cases(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_bytes(b"")
    assert tail(path, 3) == []
    path.write_bytes(b"a\n\nb\nunterminated")
    assert tail(path, 2) == ["b", "unterminated"]
    assert tail(path, 9) == ["a", "", "b", "unterminated"]


def test_tail_reads_a_large_file_backwards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gateway.log"
    line = "y" * 99
    with path.open("w") as fh:
        fh.writelines(f"{i:08} {line}\n" for i in range(50_000))  # 5.4 MB
    read_bytes = 0
    pread = os.pread

    def counting_pread(fd: int, size: int, offset: int) -> bytes:
        nonlocal read_bytes
        data = pread(fd, size, offset)
        read_bytes += len(data)
        return data

    monkeypatch.setattr(os, "pread", counting_pread)  # the os module logs.py reads with
    started = time.perf_counter()
    last = tail(path, 50)
    elapsed = time.perf_counter() - started
    assert last == [f"{i:08} {line}" for i in range(49_950, 50_000)]
    assert read_bytes <= 2 * logfiles.CHUNK
    assert elapsed < 0.5


# -- follow --------------------------------------------------------------------------------------


class Stop(Exception):
    pass


def scripted_sleep(*steps: Callable[[], None]) -> Callable[[float], None]:
    """A sleep that runs the next step instead of waiting, and ends the follow when done."""
    pending = list(steps)

    def sleep(_: float) -> None:
        if not pending:
            raise Stop
        pending.pop(0)()

    return sleep


def append(path: Path, text: str) -> Callable[[], None]:
    def step() -> None:
        with path.open("a") as fh:
            fh.write(text)

    return step


def collect(lines: Iterator[str]) -> list[str]:
    out: list[str] = []
    with pytest.raises(Stop):
        for line in lines:
            out.append(line)
    return out


def test_follow_sees_appended_lines_after_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    write_lines(path, ["a", "b", "c"])
    sleep = scripted_sleep(append(path, "d\npart"), append(path, "ial\n"))
    assert collect(follow(path, lines=2, sleep=sleep)) == ["b", "c", "d", "partial"]


def test_follow_starts_at_the_end_without_lines(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    write_lines(path, ["old"])
    assert collect(follow(path, sleep=scripted_sleep(append(path, "new\n")))) == ["new"]


def test_follow_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    log = RotatingLog(path, max_bytes=14, backups=2)
    log.write(b"first\n")
    log.flush()

    def write(data: bytes) -> Callable[[], None]:
        def step() -> None:
            log.write(data)
            log.flush()

        return step

    # "second\n" still goes into the old file just before it is rotated away: it must be read.
    sleep = scripted_sleep(write(b"second\nthird\n"), write(b"fourth\n"), write(b"fifth\n"))
    try:
        assert collect(follow(path, lines=5, sleep=sleep)) == [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
        ]
    finally:
        log.close()
    assert read(logfiles.backup_path(path, 2)) == b"first\nsecond\n"
    assert read(path) == b"fifth\n"


def test_follow_handles_truncation(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    write_lines(path, ["one", "two"])

    def truncate() -> None:
        path.write_text("")

    sleep = scripted_sleep(truncate, append(path, "three\n"))
    assert collect(follow(path, lines=1, sleep=sleep)) == ["two", "three"]


def test_follow_waits_for_the_file_to_exist(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "gateway.log"

    def create() -> None:
        write_lines(path, ["born"])

    sleep = scripted_sleep(lambda: None, create, append(path, "grown\n"))
    assert collect(follow(path, lines=10, sleep=sleep)) == ["born", "grown"]


def test_follow_with_real_time_and_a_writer_thread(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_text("")
    seen: list[str] = []
    deadline = time.monotonic() + 3

    def writer() -> None:
        with RotatingLog(path, max_bytes=100, backups=10) as log:
            for i in range(30):
                # Stay less than a file ahead of the reader: follow cannot see a file that was
                # rotated past between two of its polls (10 MB files make that moot in practice).
                while len(seen) < i - 2 and time.monotonic() < deadline:
                    time.sleep(0.001)
                log.write(f"threaded line {i:02}\n".encode())
                log.flush()

    def sleep(seconds: float) -> None:
        if time.monotonic() > deadline:
            raise Stop
        time.sleep(seconds)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        # lines=100: whatever the writer wrote before follow opened the file comes from the tail,
        # the rest from following, each exactly once.
        for line in follow(path, lines=100, poll=0.002, sleep=sleep):
            seen.append(line)
            if len(seen) == 30:
                break
    finally:
        thread.join(5)
    assert seen == [f"threaded line {i:02}" for i in range(30)]
    assert logfiles.backup_path(path, 4).exists()  # it did rotate several times


# -- hermes logs ---------------------------------------------------------------------------------


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HERMES_HOME", str(home))
    monkeypatch.delenv("HERMES_PROFILE", raising=False)
    ProfileStore(home).create("alice")
    return home


def run_logs(*args: str) -> Result:
    app = typer.Typer(cls=HermesGroup, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def root(ctx: typer.Context, profile: str | None = typer.Option(None, "-p")) -> None:
        ctx.obj = State(profile_name=profile)

    app.command("logs")(logs)
    return CliRunner().invoke(app, list(args))


def test_cli_prints_the_last_lines(cli_home: Path) -> None:
    path = cli_home / "profiles" / "alice" / "logs" / "gateway.log"
    write_lines(path, [f"alice {i}" for i in range(100)])
    result = run_logs("logs", "alice", "-n", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout == "alice 97\nalice 98\nalice 99\n"
    result = run_logs("-p", "alice", "logs")
    assert result.stdout.splitlines() == [f"alice {i}" for i in range(50, 100)]


def test_cli_supervisor_log(cli_home: Path) -> None:
    write_lines(cli_home / "logs" / "supervisor.log", ["supervisor started"])
    result = run_logs("logs", "supervisor")
    assert result.exit_code == 0, result.output
    assert result.stdout == "supervisor started\n"


def test_cli_missing_log_is_a_note(cli_home: Path) -> None:
    result = run_logs("logs", "alice")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no log yet at" in result.stderr
    assert "has the gateway run under `hermes up`?" in result.stderr


def test_cli_unknown_profile_is_one_line(cli_home: Path) -> None:
    result = run_logs("logs", "bob")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "no profile named 'bob'" in result.stderr


def test_cli_follow_until_ctrl_c(cli_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = cli_home / "profiles" / "alice" / "logs" / "gateway.log"

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    def create() -> None:
        write_lines(path, ["hello"])

    sleep = scripted_sleep(create, append(path, "world\n"), ctrl_c)
    monkeypatch.setattr(logfiles, "follow", functools.partial(follow, sleep=sleep, poll=0))
    result = run_logs("logs", "alice", "-f")
    assert result.exit_code == 0, result.output
    assert result.stdout == "hello\nworld\n"
    assert "Waiting for it" in result.stderr
    assert "Traceback" not in result.output
