#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        if settings.configured:
            raise  # found after the settings loaded: its traceback says where
        # The settings refused the environment (a malformed FIELD_ENCRYPTION_KEYS, a missing
        # SECRET_KEY...): their message names the variable; a traceback through importlib adds
        # fifty lines and nothing else.
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
