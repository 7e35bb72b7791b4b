"""What every management command of the project shares."""

from argparse import RawDescriptionHelpFormatter

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from core.errors import DomainError


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's option order, with the description's line breaks kept (one example per line)."""


class ProjectCommand(BaseCommand):
    """A BaseCommand whose --help keeps the examples in its `help` text one per line, and whose
    services' refusals (domain errors) end it as a CommandError: the message and a non-zero exit,
    not a traceback."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        return super().create_parser(prog_name, subcommand, formatter_class=HelpFormatter, **kwargs)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(exc.message) from None
