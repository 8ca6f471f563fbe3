"""`profile export / import`: round trip without secrets, and hostile archives refused."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from hermes.config import envfile


def test_export_import_round_trip(cli, home: Path, tmp_path: Path) -> None:
    cli("profile", "create", "alice", "--description", "exported")
    root = home / "profiles" / "alice"
    cli("-p", "alice", "config", "set", "OPENAI_API_KEY", "sk-secret-abcdefghijkl")
    cli("-p", "alice", "config", "set", "API_SERVER_HOST", "127.0.0.2")
    (root / "SOUL.md").write_text("exported soul\n")
    (root / "workspace" / "w.txt").write_text("work")
    (root / "workspace" / "link").symlink_to("/etc/passwd")
    (root / "state" / "db.sqlite").write_text("state")
    (root / "logs" / "gateway.log").write_text("log")
    archive = tmp_path / "alice.tar.gz"
    assert cli("profile", "export", "alice", "-o", str(archive)).exit_code == 0

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        data = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert "alice/SOUL.md" in names and "alice/workspace/w.txt" in names
    assert not any(n.endswith(".env") or "/state/" in n or "/logs/" in n for n in names)
    assert "alice/workspace/link" not in names
    key = envfile.read(root / ".env")["API_SERVER_KEY"]
    assert b"sk-secret" not in data and key.encode() not in data

    refused = cli("profile", "import", str(archive))
    assert refused.exit_code != 0 and "already exists" in refused.output
    result = cli("profile", "import", str(archive), "--name", "alice2", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    new_root = home / "profiles" / "alice2"
    assert (new_root / "SOUL.md").read_text() == "exported soul\n"
    assert (new_root / "workspace" / "w.txt").read_text() == "work"
    assert info["description"] == "exported"
    env = envfile.read(new_root / ".env")
    assert env["API_SERVER_KEY"] != key and info["api_key"] == env["API_SERVER_KEY"]
    assert "OPENAI_API_KEY" not in env and env["API_SERVER_HOST"] == "127.0.0.2"
    assert int(env["API_SERVER_PORT"]) != int(envfile.read(root / ".env")["API_SERVER_PORT"])


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        manifest = json.dumps({"format": 1, "name": "evil"}).encode()
        info = tarfile.TarInfo("evil/hermes-profile.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if data else None)
    return path


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info, data if kind == tarfile.REGTYPE else b""


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (_member("/etc/evil"), "unsafe path"),
        (_member("evil/../../escape"), "unsafe path"),
        (_member("evil/link", tarfile.SYMTYPE, link="/etc/passwd"), "link"),
        (_member("evil/hard", tarfile.LNKTYPE, link="evil/hermes-profile.json"), "link"),
        (_member("evil/dev", tarfile.CHRTYPE), "special file"),
        (_member("evil/fifo", tarfile.FIFOTYPE), "special file"),
        (_member("other/file"), "one top-level folder"),
    ],
)
def test_hostile_archives_are_refused(
    cli, home: Path, tmp_path: Path, member: tuple[tarfile.TarInfo, bytes], expected: str
) -> None:
    cli("profile", "list")
    before = sorted(p.name for p in (home / "profiles").iterdir())
    archive = _archive(tmp_path / "evil.tar.gz", [member])
    result = cli("profile", "import", str(archive))
    assert result.exit_code != 0 and expected in result.output, result.output
    assert sorted(p.name for p in (home / "profiles").iterdir()) == before
    assert not (tmp_path.parent / "escape").exists()


def test_import_of_garbage_is_a_clear_error(cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    result = cli("profile", "import", str(junk))
    assert result.exit_code != 0 and "not a readable .tar.gz" in result.output
