"""Configuration writes: connections, metadata, certificates, domains, conflicts, sweepers."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.crypto.fields import field_secret_set
from apps.core.exceptions import PermissionDenied
from apps.core.tenancy import tenant_context
from apps.identity.federation import dns, saml
from apps.identity.federation.dns import TxtResolver
from apps.identity.federation.models import (
    ConflictStatus,
    ConnectionKind,
    ConnectionStatus,
    ExternalIdentity,
    IdentityConflict,
    IdpCertificate,
    IdpConnection,
    VerificationMethod,
    VerifiedDomain,
)
from apps.identity.federation.services.common import (
    METADATA_MAX_BYTES,
    FederationError,
    _require_admin,
)
from apps.identity.models import User
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant

# --- Connections -----------------------------------------------------------------------------

CONNECTION_FIELDS = (
    "name",
    "status",
    "idp_entity_id",
    "sso_url",
    "slo_url",
    "metadata_url",
    "metadata_refresh_hours",
    "accept_encrypted",
    "allow_idp_initiated",
    "issuer",
    "client_id",
    "scopes",
    "mfa_policy",
    "groups_attribute",
    "attribute_map",
)


@transaction.atomic
def connection_save(
    *,
    actor: Any,
    tenant: Tenant,
    kind: str,
    connection: IdpConnection | None = None,
    client_secret: str | None = None,
    **fields: Any,
) -> IdpConnection:
    """Create or update a connection. `client_secret` (OIDC) is stored envelope-encrypted;
    None keeps the current one."""
    _require_admin(actor, tenant)
    if kind not in ConnectionKind.values:
        raise FederationError(_("Unknown connection kind."))
    unknown = set(fields) - set(CONNECTION_FIELDS)
    if unknown:
        raise FederationError(_("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    with tenant_context(tenant):
        created = connection is None
        if connection is None:
            connection = IdpConnection(tenant=tenant, kind=kind)
        for name, value in fields.items():
            setattr(connection, name, value)
        if client_secret is not None:
            connection.client_secret = client_secret
        if (
            connection.kind == ConnectionKind.OIDC
            and connection.status == ConnectionStatus.ACTIVE
            and not (connection.issuer and connection.client_id)
        ):
            raise FederationError(_("An active OIDC connection needs an issuer and client id."))
        if connection.metadata_url and connection.metadata_refresh_due is None:
            connection.metadata_refresh_due = timezone.now()
        if connection.kind == ConnectionKind.SAML and not connection.sp_certificate:
            key_pem, connection.sp_certificate = saml.sp_key_generate(
                f"Custos SAML SP {tenant.slug}"
            )
            connection.sp_private_key = key_pem  # encrypted by the field on save
        try:
            with transaction.atomic():
                connection.save()
        except IntegrityError as exc:
            raise FederationError(_("A connection with this name exists already.")) from exc
        audit_event_record(
            action="federation.connection." + ("created" if created else "changed"),
            actor=actor,
            target=connection,
            after={
                "kind": connection.kind,
                "status": connection.status,
                "idp_entity_id": connection.idp_entity_id,
                "issuer": connection.issuer,
                "client_secret_changed": client_secret is not None,
            },
        )
    return connection


def connection_sp_key_ensure(*, connection: IdpConnection) -> IdpConnection:
    """Give a connection its SP key pair if it has none yet (connections made before keys
    were per connection). Idempotent under races: the first writer wins, the others reload."""
    if connection.sp_certificate and connection.sp_private_key:
        return connection
    key_pem, cert_pem = saml.sp_key_generate(f"Custos SAML SP {connection.tenant.slug}")
    with tenant_context(connection.tenant), transaction.atomic():
        field_secret_set(connection, "sp_private_key", key_pem)
        IdpConnection.objects.filter(pk=connection.pk, sp_certificate="").update(
            sp_private_key=connection.sp_private_key, sp_certificate=cert_pem
        )
        fresh = IdpConnection.objects.values("sp_private_key", "sp_certificate").get(
            pk=connection.pk
        )
        connection.sp_private_key = fresh["sp_private_key"]
        connection.sp_certificate = fresh["sp_certificate"]
        if fresh["sp_certificate"] == cert_pem:
            audit_event_record(
                action="federation.sp_key.created",
                target=connection,
                details={"fingerprint": saml.certificate_parse(cert_pem).fingerprint},
            )
    return connection


@transaction.atomic
def connection_sp_key_rotate(*, actor: Any, connection: IdpConnection) -> IdpConnection:
    """A new SP key pair (e.g. after a suspected key compromise). The IdP must import the new
    SP metadata: until then it encrypts for the old key and those sign-ins fail."""
    _require_admin(actor, connection.tenant)
    old = (
        saml.certificate_parse(connection.sp_certificate).fingerprint
        if (connection.sp_certificate)
        else ""
    )
    key_pem, cert_pem = saml.sp_key_generate(f"Custos SAML SP {connection.tenant.slug}")
    with tenant_context(connection.tenant):
        connection.sp_private_key = key_pem
        connection.sp_certificate = cert_pem
        connection.save(update_fields=["sp_private_key", "sp_certificate", "updated_at"])
        audit_event_record(
            action="federation.sp_key.rotated",
            actor=actor,
            target=connection,
            details={
                "old_fingerprint": old,
                "new_fingerprint": saml.certificate_parse(cert_pem).fingerprint,
            },
        )
    return connection


def _certificates_store(connection: IdpConnection, certs: list[saml.CertInfo]) -> list[str]:
    """Add certificates not known yet (rotation: old ones stay until they expire)."""
    added = []
    for info in certs:
        _obj, created = IdpCertificate.objects.get_or_create(
            tenant_id=connection.tenant_id,
            connection=connection,
            fingerprint=info.fingerprint,
            defaults={
                "pem": info.pem,
                "subject": info.subject,
                "not_before": info.not_before,
                "not_after": info.not_after,
            },
        )
        if created:
            added.append(info.fingerprint)
    return added


@transaction.atomic
def metadata_import(
    *, actor: Any, connection: IdpConnection, xml: str | bytes, source: str = "upload"
) -> IdpConnection:
    """Apply IdP metadata (entity id, endpoints, signing certificates). Bad metadata changes
    nothing."""
    if actor is not None:
        _require_admin(actor, connection.tenant)
    try:
        meta = saml.idp_metadata_parse(xml, entity_id=connection.idp_entity_id or None)
    except saml.SamlError as exc:
        raise FederationError(
            _("The IdP metadata could not be used: %(why)s") % {"why": exc.detail or exc.reason}
        ) from exc
    now = timezone.now()
    if not any(c.not_before <= now < c.not_after for c in meta.certificates):
        raise FederationError(_("The IdP metadata holds no certificate that is valid now."))
    with tenant_context(connection.tenant):
        connection.idp_entity_id = meta.entity_id
        connection.sso_url = meta.sso_url
        connection.slo_url = meta.slo_url
        connection.metadata_refreshed_at = now
        connection.metadata_error = ""
        if connection.metadata_url:
            connection.metadata_refresh_due = now + timedelta(
                hours=max(1, connection.metadata_refresh_hours)
            )
        connection.save()
        added = _certificates_store(connection, meta.certificates)
        audit_event_record(
            action="federation.metadata.imported",
            actor=actor,
            target=connection,
            details={"source": source, "entity_id": meta.entity_id, "certificates_added": added},
        )
    return connection


def metadata_fetch(url: str) -> bytes:
    from apps.identity.federation.fetch import FetchRefused, federation_fetch

    try:
        response = federation_fetch("GET", url, max_bytes=METADATA_MAX_BYTES, timeout=10)
    except FetchRefused as exc:
        raise FederationError(
            _("The metadata URL could not be fetched: %(why)s") % {"why": exc}
        ) from exc
    if response.status != 200:
        raise FederationError(
            _("The metadata URL answered HTTP %(status)s.") % {"status": response.status}
        )
    return bytes(response.body)


def metadata_refresh(*, connection: IdpConnection, actor: Any = None) -> IdpConnection:
    """Fetch the connection's metadata URL and import it; on failure keep the configuration,
    record the error and retry at the next interval."""
    try:
        xml = metadata_fetch(connection.metadata_url)
        return metadata_import(actor=actor, connection=connection, xml=xml, source="url")
    except FederationError as exc:
        with tenant_context(connection.tenant), transaction.atomic():
            IdpConnection.objects.filter(pk=connection.pk).update(
                metadata_error=str(exc.message)[:500],
                metadata_refresh_due=timezone.now()
                + timedelta(hours=max(1, connection.metadata_refresh_hours)),
            )
            audit_event_record(
                action="federation.metadata.refresh_failed",
                outcome="failure",
                target=connection,
                details={"error": str(exc.message)[:300]},
            )
        raise


@transaction.atomic
def certificate_add(*, actor: Any, connection: IdpConnection, pem: str) -> IdpCertificate:
    _require_admin(actor, connection.tenant)
    try:
        info = saml.certificate_parse(pem)
    except saml.SamlError as exc:
        raise FederationError(_("This is not a valid PEM certificate.")) from exc
    if info.not_after <= timezone.now():
        raise FederationError(_("This certificate has expired."))
    with tenant_context(connection.tenant):
        _certificates_store(connection, [info])
        cert = IdpCertificate.objects.get(connection=connection, fingerprint=info.fingerprint)
        audit_event_record(
            action="federation.certificate.added",
            actor=actor,
            target=connection,
            details={"fingerprint": info.fingerprint, "not_after": info.not_after.isoformat()},
        )
    return cert


@transaction.atomic
def certificate_remove(*, actor: Any, certificate: IdpCertificate) -> None:
    _require_admin(actor, certificate.tenant)
    with tenant_context(certificate.tenant):
        audit_event_record(
            action="federation.certificate.removed",
            actor=actor,
            target=certificate.connection,
            details={"fingerprint": certificate.fingerprint},
        )
        certificate.delete()


# --- Domains -------------------------------------------------------------------------------


def _normalise_domain(domain: str) -> str:
    domain = (domain or "").strip().lower().rstrip(".")
    try:
        domain = domain.encode("idna").decode("ascii")  # IDN -> the A-label DNS knows
    except UnicodeError as exc:
        raise FederationError(_("Enter a domain name such as example.com.")) from exc
    if not domain or "." not in domain or " " in domain or "@" in domain or len(domain) > 253:
        raise FederationError(_("Enter a domain name such as example.com."))
    return domain


@transaction.atomic
def domain_add(*, actor: Any, tenant: Tenant, domain: str) -> VerifiedDomain:
    _require_admin(actor, tenant)
    domain = _normalise_domain(domain)
    with tenant_context(tenant):
        try:
            with transaction.atomic():
                row = VerifiedDomain.objects.create(tenant=tenant, domain=domain)
        except IntegrityError as exc:
            raise FederationError(_("This domain is listed already.")) from exc
        audit_event_record(action="federation.domain.added", actor=actor, target=row)
    return row


def _domain_taken_elsewhere(domain: VerifiedDomain) -> bool:
    from apps.core.tenancy import unscoped

    with unscoped(reason="federation: a domain may be verified by one tenant only"):
        return (
            VerifiedDomain.objects.filter(domain=domain.domain, verified_at__isnull=False)
            .exclude(tenant_id=domain.tenant_id)
            .exists()
        )


@transaction.atomic
def domain_verify(*, actor: Any, domain: VerifiedDomain) -> VerifiedDomain:
    """Mark a domain verified by hand (operators, e.g. for a domain whose DNS the customer
    cannot change in time). A domain verified by another tenant cannot be verified again."""
    if not (getattr(actor, "is_superuser", False) or getattr(actor, "is_staff", False)):
        raise PermissionDenied(_("Only operators may mark a domain as verified."))
    if _domain_taken_elsewhere(domain):
        raise FederationError(_("Another tenant has verified this domain."))
    with tenant_context(domain.tenant):
        domain.verified_at = timezone.now()
        domain.verified_by = actor
        domain.verification_method = VerificationMethod.OPERATOR
        domain.save(
            update_fields=["verified_at", "verified_by", "verification_method", "updated_at"]
        )
        audit_event_record(
            action="federation.domain.verified",
            actor=actor,
            target=domain,
            details={"method": VerificationMethod.OPERATOR},
        )
    return domain


def domain_verify_dns(
    *, actor: Any, domain: VerifiedDomain, resolver: TxtResolver | None = None
) -> VerifiedDomain:
    """Check the domain's DNS for its TXT record (`custos-verification=…`, at the domain or at
    `_custos-verification.<domain>`) and mark it verified when found. Every check is recorded
    on the row and audited; a failed check raises FederationError with what was wrong (the
    record of the failure is committed all the same)."""
    _require_admin(actor, domain.tenant)
    if domain.verified_at is not None:
        return domain
    resolver = resolver or dns.resolver_get()
    error = ""
    found_at = ""
    try:
        for name in dns.verification_names(domain.domain):
            records = [r.strip() for r in resolver.txt_records(name)]
            if domain.verification_token in records:
                found_at = name
                break
        else:
            error = _("No TXT record %(token)s was found at %(names)s.") % {
                "token": domain.verification_token,
                "names": " / ".join(dns.verification_names(domain.domain)),
            }
    except dns.DnsLookupError as exc:
        error = _("The DNS look-up failed: %(why)s. Try again later.") % {"why": exc}
    if not error and _domain_taken_elsewhere(domain):
        error = _("Another tenant has verified this domain.")
    now = timezone.now()
    with tenant_context(domain.tenant), transaction.atomic():
        domain.last_checked_at = now
        domain.last_check_error = str(error)[:300]
        fields = ["last_checked_at", "last_check_error", "updated_at"]
        if not error:
            domain.verified_at = now
            domain.verified_by = actor
            domain.verification_method = VerificationMethod.DNS
            fields += ["verified_at", "verified_by", "verification_method"]
        domain.save(update_fields=fields)
        audit_event_record(
            action="federation.domain." + ("verification_failed" if error else "verified"),
            outcome="failure" if error else "success",
            actor=actor,
            target=domain,
            details={"method": VerificationMethod.DNS, "record_at": found_at, "error": error},
        )
    if error:
        raise FederationError(error)
    return domain


@transaction.atomic
def domain_remove(*, actor: Any, domain: VerifiedDomain) -> None:
    _require_admin(actor, domain.tenant)
    with tenant_context(domain.tenant):
        audit_event_record(
            action="federation.domain.removed", actor=actor, details={"domain": domain.domain}
        )
        domain.delete()


# --- Conflict queue ------------------------------------------------------------------------


@transaction.atomic
def conflict_resolve(*, actor: Any, conflict: IdentityConflict, decision: str) -> IdentityConflict:
    """`decision`: linked (attach the external identity to the existing account), separate (a
    new account of its own) or rejected (this identity may not sign in)."""
    _require_admin(actor, conflict.tenant)
    if decision not in (ConflictStatus.LINKED, ConflictStatus.SEPARATE, ConflictStatus.REJECTED):
        raise FederationError(_("Unknown decision."))
    with tenant_context(conflict.tenant):
        updated = IdentityConflict.objects.filter(
            pk=conflict.pk, status=ConflictStatus.OPEN
        ).update(status=decision, resolved_at=timezone.now(), resolved_by=actor)
        if not updated:
            raise FederationError(_("This conflict was resolved already."))
        conflict.refresh_from_db()
        user = None
        if decision == ConflictStatus.LINKED:
            user = (
                conflict.existing_user or User.objects.filter(email__iexact=conflict.email).first()
            )
            if user is None:
                user = User.objects.create_user(email=conflict.email)
        elif decision == ConflictStatus.SEPARATE:
            local, _at, domain = conflict.email.partition("@")
            tag = hashlib.sha256(f"{conflict.issuer}|{conflict.subject}".encode()).hexdigest()[:8]
            user = User.objects.create_user(email=f"{local}+{tag}@{domain}")
        if user is not None:
            ExternalIdentity.objects.get_or_create(
                tenant=conflict.tenant,
                issuer=conflict.issuer,
                subject=conflict.subject,
                defaults={"connection": conflict.connection, "user": user},
            )
        audit_event_record(
            action="federation.conflict.resolved",
            actor=actor,
            target=conflict,
            details={"decision": decision, "user": getattr(user, "email", "")},
        )
    return conflict


# --- Certificate expiry warnings -----------------------------------------------------------


def certificate_warnings_send(*, now: datetime | None = None) -> int:
    """Warn the tenant's admins 30 and 7 days before an IdP certificate expires (once each)."""
    from django.core.mail import send_mail

    from apps.core.tenancy import unscoped

    now = now or timezone.now()
    sent = 0
    for days, column in ((7, "warned_7_at"), (30, "warned_30_at")):
        with unscoped(reason="federation: certificate expiry sweep over every tenant"):
            due = list(
                IdpCertificate.objects.select_related("connection", "tenant").filter(
                    not_after__gt=now,
                    not_after__lte=now + timedelta(days=days),
                    **{f"{column}__isnull": True},
                )
            )
        for cert in due:
            with tenant_context(cert.tenant), transaction.atomic():
                claimed = IdpCertificate.objects.filter(
                    pk=cert.pk, **{f"{column}__isnull": True}
                ).update(**{column: now})
                if not claimed:
                    continue
                if days == 7:  # the 7-day warning also covers the 30-day one
                    IdpCertificate.objects.filter(pk=cert.pk, warned_30_at__isnull=True).update(
                        warned_30_at=now
                    )
                admins = list(
                    Membership.objects.filter(role__in=ADMIN_ROLES, is_active=True)
                    .select_related("user")
                    .values_list("user__email", flat=True)
                )
                audit_event_record(
                    action="federation.certificate.expiry_warning",
                    target=cert.connection,
                    details={"days": days, "fingerprint": cert.fingerprint},
                )
                if admins:
                    subject = _("Identity provider certificate expires in %(days)d days") % {
                        "days": days
                    }
                    body = _(
                        "The signing certificate %(subject)s of the identity provider "
                        "connection %(connection)s expires on %(date)s. Add the new certificate "
                        "(or refresh the metadata) before then so sign-in keeps working."
                    ) % {
                        "subject": cert.subject,
                        "connection": cert.connection.name,
                        "date": cert.not_after.date().isoformat(),
                    }
                    transaction.on_commit(partial(send_mail, subject, body, None, admins))
                sent += 1
    return sent


def metadata_refresh_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """Sweeper: refresh connections whose metadata_refresh_due has passed."""
    from apps.core.tenancy import unscoped

    now = now or timezone.now()
    with unscoped(reason="federation: metadata refresh sweep over every tenant"):
        due = list(
            IdpConnection.objects.select_related("tenant")
            .filter(metadata_refresh_due__lte=now)
            .exclude(metadata_url="")[:limit]
        )
    done = 0
    for connection in due:
        with tenant_context(connection.tenant):
            # Claim: push the due time forward first, so two workers do not both fetch.
            claimed = IdpConnection.objects.filter(
                pk=connection.pk, metadata_refresh_due=connection.metadata_refresh_due
            ).update(metadata_refresh_due=now + timedelta(minutes=15))
        if not claimed:
            continue
        try:
            metadata_refresh(connection=connection)
            done += 1
        except FederationError:
            continue
    return done
