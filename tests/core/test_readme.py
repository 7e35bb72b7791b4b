"""The README's configuration table, `.env.example` and the settings name the same variables; the
README's pictures and relative links exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS = ROOT / "config" / "settings.py"

# `NAME=value`, or `# NAME=value` for a variable that is read only when present.
ENV_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
# env("NAME", ...), env.str("NAME", ...), env.bool(...), env.db(...), ...
ENV_READ = re.compile(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")
TABLE_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|([^|]*)\|\s*$")


def env_example() -> dict[str, str | None]:
    """Every variable of .env.example: its value, or None when it is only an example (commented)."""
    found: dict[str, str | None] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ENV_LINE.match(line.strip())
        if match:
            commented, name, value = match.groups()
            assert name not in found, f"{name} is listed twice in .env.example"
            found[name] = None if commented else value
    return found


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def configuration_table() -> dict[str, str]:
    """The README's configuration table: variable -> its default cell."""
    rows: dict[str, str] = {}
    for line in readme_section("Configuration").splitlines():
        match = TABLE_ROW.match(line)
        if match:
            name, default, meaning = (cell.strip() for cell in match.groups())
            assert name not in rows, f"{name} is in the README table twice"
            assert meaning, f"{name} has no description in the README table"
            rows[name] = default
    return rows


def test_the_parsers_find_the_well_known_variables():
    # So that the comparisons below cannot pass by parsing nothing.
    for names in (env_example(), configuration_table(), set(ENV_READ.findall(SETTINGS.read_text()))):
        assert {"DATABASE_URL", "AI_BACKEND", "LOG_FORMAT", "RETENTION_AUDIT_DAYS"} <= set(names)


def test_the_readme_table_lists_exactly_the_variables_of_env_example():
    in_table, in_example = set(configuration_table()), set(env_example())
    assert sorted(in_example - in_table) == [], "in .env.example, missing from the README table"
    assert sorted(in_table - in_example) == [], "in the README table, missing from .env.example"


def test_every_variable_the_settings_read_is_in_env_example():
    read = set(ENV_READ.findall(SETTINGS.read_text()))
    assert sorted(read - set(env_example())) == []


def test_the_readme_defaults_are_the_values_of_env_example():
    table = configuration_table()
    for name, value in env_example().items():
        cell = table[name]
        if value is None:
            assert cell == "*unset*", f"{name}: .env.example only shows an example; the README says {cell!r}"
        elif value == "":
            assert cell.startswith("*empty*"), f"{name} is empty in .env.example; the README says {cell!r}"
        else:
            assert cell == f"`{value}`", f"{name}={value} in .env.example; the README says {cell!r}"


def test_the_pictures_and_relative_links_of_the_readme_exist():
    text = README.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert len(images) >= 4, "the README shows the admin"
    for target in images:
        assert not target.startswith(("http:", "https:")), f"{target}: pictures live in the repository"
        path = ROOT / target
        assert path.is_file(), f"README shows {target}, which does not exist"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{target} is not a PNG"
    links = re.findall(r"(?<!!)\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)", text)
    for target in links:
        if not target.startswith(("http:", "https:", "mailto:")):
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_the_readme_quick_start_names_the_commands_and_urls():
    quick_start = readme_section("Two commands")
    for text in (
        "make run",
        "make test",
        "make run DEMO=1",
        "http://localhost:8000/admin/",
        "http://localhost:8000/api/docs/",
        "http://127.0.0.1:8001",
        "demo-user",
        "demo-reviewer",
    ):
        assert text in quick_start, text
