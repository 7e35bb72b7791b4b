"""The modules the mutation tool covers (issue 19) and the tests that exercise each.

Test files run in this order and stop at the first failure, so the direct unit tests come first.
Keep each module's set running in seconds: it runs once per mutant. Add a file here when it holds
tests of the module's rules (`--tests` adds files for one run without editing this).
"""

MODULES: dict[str, list[str]] = {
    "captions/alt_text.py": [
        "tests/captions/test_alt_text.py",
    ],
    "captions/quality.py": [
        # Not tests/core/ai/test_builtin.py: it renders images (seconds per test) and checks the
        # builtin backend, whose rules are not these.
        "tests/captions/test_quality.py",
    ],
    "accounts/services/rate_limits.py": [
        "tests/accounts/test_rate_limits.py",
        "tests/accounts/test_rate_limits_autocommit.py",
        "tests/accounts/test_rate_limit_concurrency.py",
    ],
    "core/crypto.py": [
        "tests/core/test_crypto.py",
        "tests/core/test_encrypted_field.py",
        "tests/core/test_rotate_encryption_key.py",
    ],
    "core/fields.py": [
        "tests/core/test_encrypted_field.py",
        "tests/core/test_rotate_encryption_key.py",
    ],
    "workflows/services/status.py": [
        "tests/workflows/services/test_status.py",
        "tests/workflows/test_archive.py",
    ],
    "scraping/services/artifacts.py": [
        "tests/scraping/services/test_artifacts.py",
        "tests/scraping/api/test_artifacts_api.py",
    ],
    "core/retry.py": [
        "tests/core/test_retry.py",
    ],
}


def module_name(path: str) -> str:
    """`core/retry.py` -> `core.retry`."""
    return path.removesuffix(".py").replace("/", ".")
