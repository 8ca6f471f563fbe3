"""`profile export / import`: a profile as a tar.gz without secrets, state or logs.

Import trusts nothing in the archive: absolute paths, `..`, links, devices and anything outside
the single top-level folder are refused before a byte is extracted, and the settings that say
how the profile is exposed and trusted are dropped (profiles/untrusted.py), each one reported.
Whatever is wrong with an archive (not gzip, a cut-off tar, a manifest that is not a JSON
object, a name that is not a profile name) is one ArchiveError naming it, and nothing is left
on disk."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hermes import __version__
from hermes.config import envfile
from hermes.errors import ConfigError, InvalidRequest
from hermes.fsutil import open_child, walk
from hermes.profiles.paths import validate_name
from hermes.profiles.store import PORTABLE_DIRS, PORTABLE_FILES, Created, ProfileStore
from hermes.profiles.untrusted import ARCHIVE_ENV, Dropped, endpoints, vet_config, vet_env

MANIFEST = "hermes-profile.json"
FORMAT = 1
MAX_UNPACKED_BYTES = 2 * 1024**3


class ArchiveError(InvalidRequest):
    """An archive `profile import` cannot take; the message names the archive and why."""

    code = "invalid_archive"


@dataclass(frozen=True)
class Imported:
    created: Created
    dropped: tuple[Dropped, ...]  # the archive's settings the new profile does not take
    endpoints: tuple[Dropped, ...] = ()  # kept, but where its requests (and keys) will go


def export_profile(store: ProfileStore, name: str, out: Path, *, workspace: bool = True) -> int:
    """Write profile `name` to `out` (tar.gz); returns the number of files written."""
    profile = store.get(name)
    manifest = {
        "format": FORMAT,
        "name": name,
        "hermes_version": __version__,
        "exported_at": int(time.time()),
        "env": {k: v for k, v in envfile.read(profile.env_path).items() if k in ARCHIVE_ENV},
    }
    parts = [*PORTABLE_FILES, *PORTABLE_DIRS, *(("workspace",) if workspace else ())]
    count = 0
    tmp = out.with_name(f".{out.name}.tmp")
    rootfd = os.open(profile.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            _add_bytes(tar, f"{name}/{MANIFEST}", json.dumps(manifest, indent=2).encode())
            for part in parts:
                src = profile.root / part
                if part == "config.yaml" and src.is_file() and not src.is_symlink():
                    _add_bytes(tar, f"{name}/config.yaml", _scrubbed_config(src))
                    count += 1
                    continue
                count += _add_part(tar, rootfd, part, f"{name}/{part}")
    finally:
        os.close(rootfd)
    tmp.replace(out)
    return count


def import_profile(
    store: ProfileStore, archive: Path, *, name: str | None = None, port: int | None = None
) -> Imported:
    if name is not None:
        validate_name(name)  # before a byte is read
    with tempfile.TemporaryDirectory(prefix=".import-", dir=_scratch(store)) as tmpdir:
        root, manifest = read_archive(archive, Path(tmpdir))
        target = name or _manifest_name(archive, manifest, root.name)
        raw_env = manifest.get("env")
        items = raw_env.items() if isinstance(raw_env, dict) else ()
        env, dropped = vet_env({str(k): str(v) for k, v in items})
        try:
            if (root / "config.yaml").is_file():
                dropped = vet_config(root / "config.yaml") + dropped
            sent_to = tuple(endpoints(root / "config.yaml"))
        except ConfigError as exc:  # named after the archive, not the scratch folder it is in
            raise ArchiveError(exc.message.replace(str(root), str(archive))) from None
        created = store.import_files(target, root, env, port=port)
        return Imported(created, tuple(dropped), sent_to)


def read_archive(archive: Path, dest: Path) -> tuple[Path, dict[str, Any]]:
    """Unpack `archive` into the empty folder `dest` once every member has been checked; its
    top folder and manifest. ArchiveError for anything malformed: the caller removes `dest`."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            top = _check_members(archive, tar.getmembers())
            tar.extractall(dest, filter="data")
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or "cut short"
        raise ArchiveError(f"{archive}: not a readable .tar.gz profile export ({reason})") from None
    root = dest / top
    return root, _manifest(archive, root)


def _manifest(archive: Path, root: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((root / MANIFEST).read_bytes())
    except (OSError, ValueError, RecursionError):  # missing, a folder, not UTF-8, not JSON
        manifest = None
    if not isinstance(manifest, dict):
        raise ArchiveError(f"{archive}: no valid {MANIFEST}; not a hermes profile export")
    return manifest


def _manifest_name(archive: Path, manifest: dict[str, Any], top: str) -> str:
    """The profile name the archive carries (its manifest's, else its top folder's)."""
    name = manifest.get("name") or top
    try:
        return validate_name(name)
    except InvalidRequest as exc:
        raise ArchiveError(f"{archive}: {exc.message}; pass --name NEW") from None


def _check_members(archive: Path, members: list[tarfile.TarInfo]) -> str:
    tops: set[str] = set()
    total = 0
    for m in members:
        path = PurePosixPath(m.name)
        if not path.parts:  # "" or "."
            raise ArchiveError(f"{archive}: refusing the member named {m.name!r}")
        if path.is_absolute() or ".." in path.parts or m.name.startswith(("/", "\\")):
            raise ArchiveError(f"{archive}: refusing unsafe path {m.name!r} in the archive")
        if not (m.isfile() or m.isdir()):
            kind = "link" if (m.issym() or m.islnk()) else "special file"
            raise ArchiveError(f"{archive}: refusing {kind} {m.name!r} in the archive")
        total += m.size
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"{archive}: unpacks to more than 2 GiB; refusing")
        tops.add(path.parts[0])
    if len(tops) != 1:
        raise ArchiveError(f"{archive}: expected one top-level folder, found {len(tops)}")
    return tops.pop()


def _add_part(tar: tarfile.TarFile, rootfd: int, part: str, arcname: str) -> int:
    """The regular files of `part` (a file or a folder of the profile), read through handles
    opened without following links: links and special files are left out (import would
    refuse them), and a folder swapped for a link meanwhile (the model's commands run in the
    workspace) is refused rather than followed, so nothing from outside the profile, another
    profile's .env included, can slip into the archive. Returns how many files were added."""
    is_dir = os.path.isdir(os.path.join(f"/proc/self/fd/{rootfd}", part))
    topfd = open_child(rootfd, part, directory=is_dir)
    if topfd is None:
        return 0
    if not is_dir:
        return _add_fd(tar, topfd, arcname)
    try:
        count = 0
        for dirfd, entry, rel in walk(topfd, frozenset()):
            if entry.is_file(follow_symlinks=False):
                fd = open_child(dirfd, entry.name, directory=False)
                count += _add_fd(tar, fd, f"{arcname}/{rel}") if fd is not None else 0
        return count
    finally:
        os.close(topfd)


def _add_fd(tar: tarfile.TarFile, fd: int, arcname: str) -> int:
    """Add the open file `fd` (closed here) if it is a regular file; 1 if it was added."""
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        os.set_blocking(fd, True)
        info = tar.gettarinfo(arcname=arcname, fileobj=fh)
        # A hard link's second name would be stored as a link to the first, which import
        # refuses: every name is stored as the file it is.
        info.type, info.linkname = tarfile.REGTYPE, ""
        info.size = os.fstat(fd).st_size
        tar.addfile(info, fh)
    return 1


def _scrubbed_config(path: Path) -> bytes:
    """config.yaml minus what an import would drop anyway: a key, port, host or model name
    someone put in it, CORS origins, limits, trust settings (profiles/untrusted.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "config.yaml"
        copy.write_bytes(path.read_bytes())
        vet_config(copy)
        return copy.read_bytes()


def _add_bytes(tar: tarfile.TarFile, arcname: str, data: bytes) -> None:
    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _scratch(store: ProfileStore) -> Path:
    store.profiles_dir.mkdir(parents=True, exist_ok=True)
    return store.profiles_dir
