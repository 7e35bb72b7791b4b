"""Plain words for DRF's list-field errors, and the range of an id, used by every serializer of
the project.

DRF says "Ensure this field has at least 1 elements." and "This list may not be empty.": not
words for a person. Every list field that needs items takes its messages from `at_least_one`
(tests/core/test_api_fields.py walks all the API's serializers to keep it so).
"""


def at_least_one(noun: str) -> dict[str, str]:
    """`error_messages` for a list field with `min_length=1` or `allow_empty=False`:
    at_least_one("platform") -> "Give at least one platform." for both checks."""
    message = f"Give at least one {noun}."
    return {"min_length": message, "empty": message}


# The largest big-integer key: a larger id is a 400 naming the field, not a database error (SQLite
# cannot even bind it).
MAX_ID = 2**63 - 1
