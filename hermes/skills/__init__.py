"""Skills: skills/<name>/SKILL.md with YAML-ish front matter (name, description) then
instructions. The index of names and descriptions goes into the system prompt; a skill's full
text is loaded on demand."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hermes.errors import Conflict, InvalidRequest, NotFound
from hermes.fsutil import atomic_write, locked

SKILL_FILE = "SKILL.md"
LOCK_FILE = ".lock"
SKILL_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # matched whole (fullmatch)
MAX_DESCRIPTION_CHARS = 300
MAX_SKILL_BYTES = 100 * 1024


@dataclass(frozen=True, slots=True)
class SkillInfo:
    name: str
    description: str
    path: Path


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split `---`-delimited front matter of `key: value` lines from the body. Only flat string
    values are read, which is all SKILL.md front matter needs (no YAML import on the hot path)."""
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end == -1:
        return {}, text
    meta: dict[str, str] = {}
    for line in text[3:end].splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not line.startswith((" ", "\t", "#")):
            meta[key.strip()] = value.strip().strip("'\"")
    body = text[end + 4 :].lstrip("\n")
    return meta, body


def list_skills(skills_dir: Path) -> list[SkillInfo]:
    """The skills in `skills_dir`, sorted by folder name. Folders whose name is not a valid
    skill name (hidden ones, temporary ones) and folders without a SKILL.md are skipped."""
    try:
        entries = sorted(os.listdir(skills_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for entry in entries:
        if not SKILL_NAME_RE.fullmatch(entry):
            continue
        path = skills_dir / entry / SKILL_FILE
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:4000]
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        meta, _ = parse_front_matter(head)
        out.append(SkillInfo(meta.get("name") or entry, meta.get("description", ""), path))
    return out


def validate_skill_name(name: str) -> str:
    """`name` if it can name a skill folder, else InvalidRequest saying what a name may be."""
    if not SKILL_NAME_RE.fullmatch(name):
        raise InvalidRequest(
            f"invalid skill name {name!r}: use 1-64 characters, lower-case letters, digits and "
            "'-', starting with a letter or digit (e.g. 'deploy-website')",
            param="name",
        )
    return name


def find_skill(skills_dir: Path, name: str) -> SkillInfo | None:
    """The skill in folder `name`, or else the one whose front matter is named `name`."""
    skills = list_skills(skills_dir)
    by_folder = next((s for s in skills if s.path.parent.name == name), None)
    return by_folder or next((s for s in skills if s.name == name), None)


def read_skill(skills_dir: Path, name: str) -> str:
    """The full text of skill `name`'s SKILL.md; NotFound listing the known skills, with the
    closest names first, if there is no such skill."""
    found = find_skill(skills_dir, name.strip())
    if found is None:
        raise NotFound(_unknown_message(skills_dir, name), param="name")
    return found.path.read_text(encoding="utf-8", errors="replace")


def create_skill(
    skills_dir: Path, name: str, description: str, content: str, *, overwrite: bool = False
) -> Path:
    """Write skills/<name>/SKILL.md (front matter, then `content`) atomically; the path.

    InvalidRequest for a bad name, description or content; Conflict if the skill exists and
    `overwrite` is False."""
    validate_skill_name(name)
    description = description.strip()
    if not description:
        raise InvalidRequest(
            "the description is empty; say in one line what the skill is for",
            param="description",
        )
    if "\n" in description or "\r" in description:
        raise InvalidRequest("the description must be a single line", param="description")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidRequest(
            f"the description is {len(description)} characters; keep it to "
            f"{MAX_DESCRIPTION_CHARS} (the details belong in the content)",
            param="description",
        )
    body = content.strip("\n")
    if not body.strip():
        raise InvalidRequest(
            "the content is empty; write the skill's instructions", param="content"
        )
    text = f"---\nname: {name}\ndescription: {description}\n---\n\n{body}\n"
    size = len(text.encode("utf-8"))
    if size > MAX_SKILL_BYTES:
        raise InvalidRequest(
            f"the skill is {size} bytes, over the limit of {MAX_SKILL_BYTES}; keep it focused "
            "or split it into several skills",
            param="content",
        )
    folder = skills_dir / name
    path = folder / SKILL_FILE
    with locked(skills_dir / LOCK_FILE):
        if path.exists() and not overwrite:
            raise Conflict(
                f"a skill named {name!r} already exists; pick another name, or pass "
                "overwrite=true to replace it (view it first with skill_view)",
                param="name",
            )
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
    return path


def _unknown_message(skills_dir: Path, name: str) -> str:
    known = [s.name for s in list_skills(skills_dir)]
    if not known:
        return f"no skill named {name!r}: there are no skills yet"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    close += [k for k in known if name and name.lower() in k and k not in close]
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    return f"no skill named {name!r}.{hint} Known skills: {', '.join(known)}"
