"""Every management command of the project's own apps explains itself: `--help` exits 0 and shows examples."""

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class

PROJECT_APPS = {"core", "accounts", "platforms", "captions", "workflows", "scraping", "generation", "console"}


def project_commands() -> list[tuple[str, str]]:
    return sorted((name, app) for name, app in get_commands().items() if app in PROJECT_APPS)


def test_the_project_apps_are_installed_and_have_commands():
    # Guards the filter below: an app renamed or dropped would otherwise shrink the check silently.
    assert set(settings.INSTALLED_APPS) >= PROJECT_APPS
    names = {name for name, _ in project_commands()}
    assert {"bootstrap", "serve", "cleanup", "archive", "rotate_encryption_key", "reap_stale_work"} <= names


@pytest.mark.parametrize(("name", "app"), project_commands(), ids=[name for name, _ in project_commands()])
def test_help_has_examples_and_exits_zero(name, app, capsys):
    command = load_command_class(app, name)
    with pytest.raises(SystemExit) as exited:
        # What `python manage.py <name> --help` runs.
        command.run_from_argv(["manage.py", name, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: manage.py {name}")
    _, found, after = out.partition("\nExamples:\n")
    assert found, f"`manage.py {name} --help` shows no examples (or they are reflowed into a paragraph)"
    examples = after.split("\n\n")[0].splitlines()
    # One command per line, as typed (environment assignments may come first).
    assert examples, out
    for example in examples:
        assert f"python manage.py {name}" in example, f"not an example of {name}: {example!r}"
