import logging.config
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("flightdeck")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _log_like_django(**kwargs) -> None:
    """Worker and beat log through Django's LOGGING (LOG_FORMAT, LOG_LEVEL) instead of
    Celery's own root logger setup, so every process writes lines of the same shape."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
