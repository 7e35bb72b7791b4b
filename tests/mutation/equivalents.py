"""The equivalent mutants of tests/mutation/equivalent.toml, matched by line text and mutation."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")


@dataclass(frozen=True)
class Equivalent:
    module: str
    line: str
    mutation: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.module, " ".join(self.line.split()), self.mutation)


def load(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    entries = []
    for index, entry in enumerate(data.get("equivalent", []), start=1):
        missing = [name for name in ("module", "line", "mutation", "reason") if not entry.get(name)]
        if missing:
            raise ValueError(f"{path.name}: entry {index} lacks {', '.join(missing)}")
        entries.append(
            Equivalent(
                module=entry["module"],
                line=entry["line"].strip(),
                mutation=entry["mutation"],
                reason=" ".join(entry["reason"].split()),
            )
        )
    return entries


def mutant_key(module: str, line_text: str, description: str) -> tuple[str, str, str]:
    return (module, " ".join(line_text.split()), description)


def index(entries: list[Equivalent]) -> dict[tuple[str, str, str], Equivalent]:
    return {entry.key: entry for entry in entries}
