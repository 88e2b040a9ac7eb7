"""Configuration as code: set a tenant's IdP connection.

    manage.py idp_configure <tenant> --saml-metadata-url URL [--name N]
        [--mapping-file rules.json]
    manage.py idp_configure <tenant> --saml-metadata-file idp.xml
    manage.py idp_configure <tenant> --oidc-issuer URL --client-id ID --client-secret-file PATH
    options: --status active|draft|disabled, --mfa-policy, --allow-idp-initiated,
        --domain D (add and verify)

rules.json: {"attribute_map": {"email": "mail"}, "groups_attribute": "groups",
             "rules": [{"attribute": "groups", "value": "eng", "target_kind": "access_role",
                        "target": "engineer", "priority": 100}]}
Idempotent: re-running updates the connection of that name and replaces its rules. The client
secret is read from a file (never a command-line argument) and stored encrypted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context
from apps.identity.federation import services
from apps.identity.federation.models import (
    ConnectionKind,
    ConnectionStatus,
    IdpConnection,
    MappingRule,
    VerifiedDomain,
)
from apps.identity.models import User
from apps.tenants.models import Tenant


class Command(BaseCommand):
    help = "Set a tenant's identity provider connection (SAML metadata or OIDC) and mapping."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("--name", default="")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--saml-metadata-url")
        group.add_argument("--saml-metadata-file")
        group.add_argument("--oidc-issuer")
        parser.add_argument("--client-id", default="")
        parser.add_argument("--client-secret-file", default="")
        parser.add_argument("--scopes", default="openid email profile")
        parser.add_argument("--mapping-file", default="")
        parser.add_argument(
            "--status", default=ConnectionStatus.ACTIVE, choices=ConnectionStatus.values
        )
        parser.add_argument("--mfa-policy", default="trust_idp")
        parser.add_argument("--allow-idp-initiated", action="store_true")
        parser.add_argument("--domain", action="append", default=[], help="add and verify a domain")

    def handle(self, *args: Any, **opts: Any) -> None:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        actor = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if actor is None:
            raise CommandError("an active superuser is needed as the acting operator")
        kind = ConnectionKind.OIDC if opts["oidc_issuer"] else ConnectionKind.SAML
        name = opts["name"] or ("OIDC" if kind == ConnectionKind.OIDC else "SAML")
        mapping: dict[str, Any] = {}
        if opts["mapping_file"]:
            try:
                mapping = json.loads(Path(opts["mapping_file"]).read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"mapping file: {exc}") from exc
        secret = None
        if kind == ConnectionKind.OIDC:
            if not opts["client_id"]:
                raise CommandError("--client-id is required with --oidc-issuer")
            if opts["client_secret_file"]:
                try:
                    secret = Path(opts["client_secret_file"]).read_text().strip()
                except OSError as exc:
                    raise CommandError(f"client secret file: {exc}") from exc
        try:
            with transaction.atomic(), tenant_context(tenant):
                existing = IdpConnection.objects.filter(name=name).first()
                fields: dict[str, Any] = {
                    "name": name,
                    "status": opts["status"],
                    "mfa_policy": opts["mfa_policy"],
                    "allow_idp_initiated": opts["allow_idp_initiated"],
                }
                if "attribute_map" in mapping:
                    fields["attribute_map"] = mapping["attribute_map"]
                if "groups_attribute" in mapping:
                    fields["groups_attribute"] = mapping["groups_attribute"]
                if kind == ConnectionKind.OIDC:
                    fields.update(
                        issuer=opts["oidc_issuer"],
                        client_id=opts["client_id"],
                        scopes=opts["scopes"],
                    )
                elif opts["saml_metadata_url"]:
                    fields["metadata_url"] = opts["saml_metadata_url"]
                conn = services.connection_save(
                    actor=actor,
                    tenant=tenant,
                    kind=kind,
                    connection=existing,
                    client_secret=secret,
                    **fields,
                )
                if opts["saml_metadata_url"]:
                    xml = services.metadata_fetch(opts["saml_metadata_url"])
                    services.metadata_import(actor=actor, connection=conn, xml=xml, source="url")
                elif opts["saml_metadata_file"]:
                    try:
                        xml = Path(opts["saml_metadata_file"]).read_bytes()
                    except OSError as exc:
                        raise CommandError(f"metadata file: {exc}") from exc
                    services.metadata_import(actor=actor, connection=conn, xml=xml, source="file")
                for domain in opts["domain"]:
                    row = VerifiedDomain.objects.filter(domain=domain.lower()).first()
                    if row is None:
                        row = services.domain_add(actor=actor, tenant=tenant, domain=domain)
                    if row.verified_at is None:
                        services.domain_verify(actor=actor, domain=row)
                if "rules" in mapping:
                    for rule in MappingRule.objects.filter(connection=conn):
                        services.mapping_rule_delete(actor=actor, rule=rule)
                    for rule_data in mapping["rules"]:
                        services.mapping_rule_save(
                            actor=actor,
                            connection=conn,
                            attribute=rule_data.get("attribute", "groups"),
                            value=rule_data["value"],
                            target_kind=rule_data["target_kind"],
                            target=rule_data["target"],
                            priority=int(rule_data.get("priority", 100)),
                        )
        except DomainError as exc:
            raise CommandError(str(exc.message)) from exc
        except (KeyError, TypeError) as exc:
            raise CommandError(f"mapping file: bad rule ({exc})") from exc
        self.stdout.write(
            f"configured {conn.kind} connection {conn.name!r} (id {conn.pk}) for {tenant.slug}"
        )
