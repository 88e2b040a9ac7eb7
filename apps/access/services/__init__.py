"""Writes of the access model (the agreed interface, notes/access-interface.md). Every one is
transactional, audited and bumps the tenant's policy version."""

from apps.access.exceptions import (
    AccessValidationError,
    PolicyViolation,
    RuleInvalid,
    SodViolation,
)
from apps.access.services.attestations import (
    attestation_record,
    attestation_revoke,
    attestation_validate,
)
from apps.access.services.bulk import (
    BulkCreateResult,
    GrantSpec,
    grants_create_bulk,
    grants_revoke_bulk,
    grants_revoke_for_user,
    grants_suspend_bulk,
)
from apps.access.services.catalog import (
    entitlement_create,
    policy_exception_create,
    policy_rule_save,
    provisioning_template_save,
    role_create,
    role_create_from_template,
    role_entitlements_set,
    service_account_create,
    sod_rule_save,
    standing_policy_set,
)
from apps.access.services.common import policy_version_bump
from apps.access.services.grants import (
    grant_create,
    grant_restore,
    grant_revoke,
    grant_suspend,
    grant_touch,
)
from apps.access.services.mapping import (
    ReconcileResult,
    grants_reconcile_mapped,
    template_roles_for,
    templates_apply,
)
from apps.access.services.sweep import grants_expire_due

__all__ = [
    "AccessValidationError",
    "BulkCreateResult",
    "GrantSpec",
    "PolicyViolation",
    "ReconcileResult",
    "RuleInvalid",
    "SodViolation",
    "attestation_record",
    "attestation_revoke",
    "attestation_validate",
    "entitlement_create",
    "grant_create",
    "grant_restore",
    "grant_revoke",
    "grant_suspend",
    "grant_touch",
    "grants_create_bulk",
    "grants_expire_due",
    "grants_reconcile_mapped",
    "grants_revoke_bulk",
    "grants_revoke_for_user",
    "grants_suspend_bulk",
    "policy_exception_create",
    "policy_rule_save",
    "policy_version_bump",
    "provisioning_template_save",
    "role_create",
    "role_create_from_template",
    "role_entitlements_set",
    "service_account_create",
    "sod_rule_save",
    "standing_policy_set",
    "template_roles_for",
    "templates_apply",
]
