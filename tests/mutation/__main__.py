"""`python -m tests.mutation [module ...] [--list] [--show N] [--jobs N] [--markdown]`.

See tests/mutation/__init__.py and docs/testing.md ("Mutation testing").
"""

import sys

from tests.mutation.cli import main

sys.exit(main())
