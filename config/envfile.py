"""Write a `.env` with fresh secrets if none exists: `python -m config.envfile [PATH] [--demo-port N]`.

Runs before Django is importable with settings, so it uses only the standard
library and `cryptography`.
"""

import argparse
import secrets
import sys
from pathlib import Path

from config.keys import generate_key

DEFAULT_DEMO_PORT = 8001

TEMPLATE = """\
# Written by `make run` on first start. Keep it private; see .env.example for every option.
DEBUG=true
SECRET_KEY={secret_key}
FIELD_ENCRYPTION_KEYS={field_key}
ALLOWED_HOSTS=localhost,127.0.0.1,[::1]
# The built-in demo Mastodon instance `make run` starts on loopback (a fake; its token is public).
DEMO_INSTANCE_URL=http://127.0.0.1:{demo_port}
"""


def write_env(path: Path, *, demo_port: int = DEFAULT_DEMO_PORT) -> bool:
    if path.exists():
        return False
    path.write_text(
        TEMPLATE.format(secret_key=secrets.token_urlsafe(50), field_key=generate_key(), demo_port=demo_port)
    )
    path.chmod(0o600)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.envfile", description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=".env", type=Path)
    parser.add_argument(
        "--demo-port",
        type=int,
        default=DEFAULT_DEMO_PORT,
        help=f"Port of the demo instance written into DEMO_INSTANCE_URL (default {DEFAULT_DEMO_PORT}).",
    )
    args = parser.parse_args(argv[1:])
    if not 0 < args.demo_port < 65536:
        parser.error(f"--demo-port must be between 1 and 65535, not {args.demo_port}.")
    if write_env(args.path, demo_port=args.demo_port):
        print(f"Wrote {args.path} with a new SECRET_KEY and FIELD_ENCRYPTION_KEYS.")
    else:
        print(f"{args.path} exists; leaving it as it is.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
