#!/usr/bin/env python3
"""Print the README's table of config.yaml keys (or, with --global, of hermes.yaml's),
generated from the schema dataclasses."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from hermes.config.home import HomeConfig
from hermes.config.schema import Config
from hermes.config.validate import describe, hints, to_plain


def rows(cls: Any, prefix: str = "") -> list[tuple[str, str, str, str]]:
    out = []
    instance = cls()
    for f in dataclasses.fields(cls):
        hint = hints(cls)[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            out += rows(hint, key + ".")
            continue
        default = json.dumps(to_plain(getattr(instance, f.name)))
        out.append((key, describe(hint) + _range(f.metadata), default, f.metadata.get("doc", "")))
    return out


def _range(metadata: Any) -> str:
    """The bounds a field declares (schema.bounded), as `config set` checks them."""
    rules = (("above", ">"), ("least", ">="), ("most", "<="))
    terms = [f"{sym} {metadata[key]:g}" for key, sym in rules if key in metadata]
    return f", {' and '.join(terms)}" if terms else ""


def main() -> None:
    print("| key | type | default | meaning |")
    print("|---|---|---|---|")
    schema = HomeConfig if "--global" in sys.argv[1:] else Config
    for key, kind, default, doc in rows(schema):
        print(f"| `{key}` | {kind} | `{default}` | {doc} |")


if __name__ == "__main__":
    main()
