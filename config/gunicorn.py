"""gunicorn settings (Procfile: gunicorn -c config/gunicorn.py config.wsgi …).

Command-line flags still win; this file only adds an access log that never records the
secret of a capability URL (see config/redact.py)."""

from gunicorn.glogging import Logger

from config.redact import RedactCapabilityUrls, redact


class RedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        # The error log's debug lines name each request's path too.
        self.error_log.addFilter(RedactCapabilityUrls())

    def atoms(self, resp, req, environ, request_time):
        return {key: redact(value) for key, value in super().atoms(resp, req, environ, request_time).items()}


logger_class = RedactingLogger
