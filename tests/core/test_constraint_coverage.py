"""Every named database constraint has a test that proves it is the one rejecting a bad row."""

import re
from pathlib import Path

from django.apps import apps

APPS = ("core", "accounts", "platforms", "captions", "workflows", "scraping", "generation")
TESTS = Path(__file__).resolve().parents[1]
VIOLATES_CALL = re.compile(r"""\bviolates\(\s*["']([^"']+)["']\s*\)""")


def declared_constraints() -> set[str]:
    return {
        constraint.name
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        for constraint in model._meta.constraints
    }


def constraints_named_in_tests() -> set[str]:
    return {
        name
        for path in TESTS.rglob("test_*.py")
        for name in VIOLATES_CALL.findall(path.read_text(encoding="utf-8"))
    }


def test_the_apps_declare_constraints():
    assert len(declared_constraints()) > 50


def test_every_constraint_is_named_in_a_violates_call():
    untested = sorted(declared_constraints() - constraints_named_in_tests())
    assert not untested, "constraints no test names in violates(...): " + ", ".join(untested)


def test_every_violates_call_names_a_declared_constraint():
    unknown = sorted(constraints_named_in_tests() - declared_constraints())
    assert not unknown, "violates(...) names no declared constraint: " + ", ".join(unknown)
