"""Write a `.env` with fresh secrets if none exists: `python -m config.envfile [PATH]`.

Runs before Django is importable with settings, so it uses only the standard
library and `cryptography`.
"""

import secrets
import sys
from pathlib import Path

from config.keys import generate_key

TEMPLATE = """\
# Written by `make run` on first start. Keep it private; see .env.example for every option.
DEBUG=true
SECRET_KEY={secret_key}
FIELD_ENCRYPTION_KEYS={field_key}
ALLOWED_HOSTS=localhost,127.0.0.1,[::1]
"""


def write_env(path: Path) -> bool:
    if path.exists():
        return False
    path.write_text(TEMPLATE.format(secret_key=secrets.token_urlsafe(50), field_key=generate_key()))
    path.chmod(0o600)
    return True


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(".env")
    if write_env(path):
        print(f"Wrote {path} with a new SECRET_KEY and FIELD_ENCRYPTION_KEYS.")
    else:
        print(f"{path} exists; leaving it as it is.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
