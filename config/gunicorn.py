"""gunicorn settings (Procfile: gunicorn -c config/gunicorn.py config.wsgi …).

Command-line flags still win; this file only makes gunicorn's own logs mask what
config/logs.py masks in the application's: capability-URL tokens (the unsubscribe link,
the calendar feed) in request lines and Referers, bearer tokens, passwords in URLs."""

from gunicorn.glogging import Logger

from config.logs import RedactSecrets, redact


class RedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        # The error log's debug lines name each request's path too.
        self.error_log.addFilter(RedactSecrets())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}


logger_class = RedactingLogger
