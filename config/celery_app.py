"""The Celery application. Tasks are thin wrappers around services (STYLE.md)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("custos")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
