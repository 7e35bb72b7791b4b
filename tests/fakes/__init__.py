"""Fakes of outside services that speak their wire format on a local pytest-httpserver.

- `tests.fakes.mastodon.FakeMastodon`: a stateful Mastodon / Pixelfed instance with failure knobs.
"""
