"""gunicorn's own log lines in the project's format (core.logging), secrets masked.

gunicorn writes its error log (`[2026-01-01 10:00:00 +0000] [42] [INFO] Booting worker`) and its
access log in formats of its own. `manage.py serve` starts it with
`--logger-class core.gunicorn_logging.StructuredLogger` (run gunicorn directly with the same
option): both logs then go to stderr through the StructuredFormatter and the RedactSecrets
filter, one logfmt or JSON line per event like every other logger (`logger=gunicorn.error`,
`logger=gunicorn.access`). An access line names the method and the path without its query
string (where a careless client's `?access_token=` would be), with status, bytes, ms and remote
as fields.
"""

from __future__ import annotations

import logging
import os
import sys

from gunicorn import glogging


def _log_format() -> str:
    # The master process has not set Django up; its settings module still reads .env and LOG_FORMAT.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        from django.conf import settings

        return settings.LOG_FORMAT
    except Exception:  # settings that do not load: the workers will say why; log in the default
        return "logfmt"


class StructuredLogger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)
        from core.logging import RedactSecrets, StructuredFormatter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(StructuredFormatter(output=_log_format()))
        handler.addFilter(RedactSecrets())
        for log in (self.error_log, self.access_log):
            for previous in list(log.handlers):
                log.removeHandler(previous)
            log.addHandler(handler)
            log.propagate = False

    def access(self, resp, req, environ, request_time):
        if not (self.cfg.accesslog or self.cfg.logconfig_dict):
            return  # access logging is off (gunicorn's default)
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        method, path = environ.get("REQUEST_METHOD", "-"), environ.get("PATH_INFO", "")
        try:
            self.access_log.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "status": int(status) if str(status).isdigit() else status,
                    "bytes": getattr(resp, "sent", None),
                    "ms": request_time.seconds * 1000 + request_time.microseconds // 1000,
                    "remote": environ.get("REMOTE_ADDR", "-"),
                },
            )
        except Exception:
            self.exception("Could not write the access log line")
