"""The REST API fuzzed from its own OpenAPI document (schemathesis, in process against the WSGI
app): every operation, with a valid API key of a seeded tenant and unauthenticated, with
schema-conforming and schema-violating input. Fails on any 5xx and on any response the
document does not describe (status code, content type, body, headers).

Bounded (a few examples per operation and mode) so the whole module stays well under 60 s;
`bench/api_fuzz.sh` runs the same document against a live server on PostgreSQL with many more.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.integrations.scopes import SCOPES
from apps.integrations.services.api_keys import api_key_create

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("CUSTOS_FUZZ_EXAMPLES", "4"))  # per operation, mode and caller
STATUSES: Counter[tuple[str, str, bool, int]] = Counter()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def api_schema(settings: Any) -> Any:
    """The schema, called through the real WSGI handler. Like Django's test client, keep the
    handler from closing the test's database connection at request start/end: inside the test
    transaction that would close it under the test (PostgreSQL: "the connection is closed")."""
    from django.core import signals
    from django.db import close_old_connections

    settings.ALLOWED_HOSTS = ["*"]
    settings.API_AUTH_FAILURE_THRESHOLD = 10**6  # no alert mail storm from fuzzed credentials
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(
    operation: Any, *, mode: GenerationMode, headers: dict[str, str], slug: str | None
) -> list[str]:
    failures: list[str] = []
    path_parameters = {"tenant_slug": slug} if slug and "{tenant_slug}" in operation.path else None
    strategy = operation.as_strategy(
        generation_mode=mode, headers=headers or None, path_parameters=path_parameters
    )
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call()
        STATUSES[(operation.label, mode.value, bool(headers), response.status_code)] += 1
        try:
            case.validate_response(response, checks=checks)
        except (Exception, BaseExceptionGroup) as exc:  # collect, report all at the end
            failures.append(
                f"{operation.label} [{mode.value}, {'key' if headers else 'anonymous'}] "
                f"{response.status_code} {response.text[:300]!r}\n  {exc}".strip()
            )

    try:
        run()
    except Unsatisfiable:  # nothing to negate (an operation without any input)
        if mode is GenerationMode.POSITIVE:
            raise
    return failures


def test_every_operation_survives_fuzzing(api_schema: Any, tenant_a: Any, admin_a: Any) -> None:
    issued = api_key_create(
        actor=admin_a,
        tenant=tenant_a,
        name="fuzzer",
        scopes=list(SCOPES),
        technical_contact_email="ops@acme.test",
        rate_limit_per_minute=100_000,
        rate_limit_burst=100_000,
    )
    key_headers = {"Authorization": f"Bearer {issued.token}"}
    operations = _operations(api_schema)
    assert len(operations) >= 12
    STATUSES.clear()
    cpu_started = time.process_time()
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz(operation, mode=mode, headers=key_headers, slug=tenant_a.slug)
        # Without a credential the input hardly matters (refused first): valid input only.
        failures += _fuzz(operation, mode=GenerationMode.POSITIVE, headers={}, slug=None)
    if os.environ.get("CUSTOS_FUZZ_REPORT"):
        for key, count in sorted(STATUSES.items()):
            print(*key, count)
    assert not failures, "\n\n".join(failures[:40])
    called = {label for label, _mode, with_key, _status in STATUSES if with_key}
    assert called == {operation.label for operation in operations}
    # CPU time, not wall time: the machine running the suite may be shared.
    assert time.process_time() - cpu_started < 60
