"""Localised notification emails (rendered in the recipient's language)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

logger = logging.getLogger("custos.integrations")


def mail_send_localised(
    *, to: list[str], language: str, template: str, context: dict[str, Any]
) -> bool:
    """Render `integrations/email/<template>_subject.txt` and `<template>.txt` in `language`
    and send them. False (and a log line without the content) when sending failed."""
    if not to:
        return False
    languages = {code for code, _ in settings.LANGUAGES}
    with translation.override(language if language in languages else settings.LANGUAGE_CODE):
        subject = render_to_string(f"integrations/email/{template}_subject.txt", context)
        body = render_to_string(f"integrations/email/{template}.txt", context)
    try:
        send_mail(" ".join(subject.split()), body, None, to)
    except Exception:  # the sweeper retries; never breaks the caller
        logger.warning("could not send %s notice to %d recipient(s)", template, len(to))
        return False
    return True
