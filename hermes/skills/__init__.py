"""Skills: skills/<name>/SKILL.md with YAML-ish front matter (name, description) then
instructions. The index of names and descriptions goes into the system prompt; a skill's full
text is loaded on demand."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
    try:
        entries = sorted(os.listdir(skills_dir))
    except FileNotFoundError:
        return []
    out = []
    for entry in entries:
        path = skills_dir / entry / "SKILL.md"
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:4000]
        except (FileNotFoundError, NotADirectoryError):
            continue
        meta, _ = parse_front_matter(head)
        out.append(SkillInfo(meta.get("name") or entry, meta.get("description", ""), path))
    return out
