"""Beat tasks of federation: thin wrappers around idempotent services."""

from celery import shared_task

from apps.identity.federation import services


@shared_task(name="federation.metadata_refresh_due")
def metadata_refresh_due_task() -> int:
    return services.metadata_refresh_due()


@shared_task(name="federation.certificate_warnings")
def certificate_warnings_task() -> int:
    return services.certificate_warnings_send()


@shared_task(name="federation.used_assertions_purge")
def used_assertions_purge_task() -> int:
    return services.used_assertions_purge()
