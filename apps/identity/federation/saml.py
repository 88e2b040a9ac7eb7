"""SAML 2.0 service provider per tenant, on python3-saml (onelogin.saml2).

Strict mode always; assertions must be signed (response signature alone is not enough);
SHA-1 signatures and digests are refused; audience, recipient, destination, NotOnOrAfter and
InResponseTo are checked by the library; replay is ours (UsedAssertion). Every IdP certificate
inside its validity window verifies, so a rotation needs no downtime.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from apps.identity.federation.models import IdpConnection

MFA_AUTHN_CONTEXTS = (
    "https://refeds.org/profile/mfa",
    "http://schemas.microsoft.com/claims/multipleauthn",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
)


class SamlError(Exception):
    """A SAML message was refused; `reason` is a short code for the audit log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


# --- SP key pair (one per deployment; used to decrypt encrypted assertions) ------------------


def _sp_key_paths() -> tuple[Path, Path]:
    base = Path(
        getattr(settings, "FEDERATION_SP_KEY_DIR", Path(settings.BASE_DIR) / "var" / "keys")
    )
    return base / "federation-sp.key", base / "federation-sp.crt"


_SP_CACHE: dict[str, tuple[str, str]] = {}


def sp_key_pair() -> tuple[str, str]:
    """(private key PEM, certificate PEM), created on first use (0600)."""
    if "pair" in _SP_CACHE:
        return _SP_CACHE["pair"]
    key_path, cert_path = _sp_key_paths()
    if not key_path.exists() or not cert_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Custos SAML SP")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now.replace(year=now.year + 10))
            .sign(key, hashes.SHA256())
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair = (key_path.read_text(), cert_path.read_text())
    _SP_CACHE["pair"] = pair
    return pair


# --- Certificates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CertInfo:
    pem: str
    fingerprint: str
    subject: str
    not_before: datetime
    not_after: datetime


def certificate_parse(text: str) -> CertInfo:
    """Parse a PEM or bare base64 certificate (as found in metadata)."""
    pem = OneLogin_Saml2_Utils.format_cert(text.strip())
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise SamlError("bad_certificate", str(exc)) from exc
    return CertInfo(
        pem=pem,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        subject=cert.subject.rfc4514_string()[:500],
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


# --- Metadata --------------------------------------------------------------------------------


@dataclass
class IdpMetadata:
    entity_id: str
    sso_url: str
    slo_url: str
    certificates: list[CertInfo] = field(default_factory=list)


def idp_metadata_parse(xml: str | bytes, *, entity_id: str | None = None) -> IdpMetadata:
    """Parse IdP metadata (defused: python3-saml parses with a hardened lxml parser)."""
    try:
        data = OneLogin_Saml2_IdPMetadataParser.parse(
            xml,
            entity_id=entity_id or None,
            required_sso_binding=OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        )
    except Exception as exc:  # lxml / parser errors of every kind: the input is bad
        raise SamlError("bad_metadata", str(exc)[:200]) from exc
    idp = data.get("idp") or {}
    if not idp.get("entityId") or not (idp.get("singleSignOnService") or {}).get("url"):
        raise SamlError("bad_metadata", "no IdP entity id or HTTP-Redirect SSO endpoint")
    pems: list[str] = []
    if idp.get("x509cert"):
        pems.append(idp["x509cert"])
    multi = idp.get("x509certMulti") or {}
    pems.extend(multi.get("signing", []))
    if not pems:
        raise SamlError("bad_metadata", "no signing certificate")
    certs: dict[str, CertInfo] = {}
    for pem in pems:
        info = certificate_parse(pem)
        certs[info.fingerprint] = info
    return IdpMetadata(
        entity_id=idp["entityId"],
        sso_url=idp["singleSignOnService"]["url"],
        slo_url=(idp.get("singleLogoutService") or {}).get("url", ""),
        certificates=list(certs.values()),
    )


# --- Settings per tenant -------------------------------------------------------------------


def base_url(request: HttpRequest | None) -> str:
    configured = getattr(settings, "FEDERATION_BASE_URL", "")
    if configured:
        return configured.rstrip("/")
    if request is None:
        return "http://localhost"
    return f"{request.scheme}://{request.get_host()}"


def sp_urls(tenant_slug: str, request: HttpRequest | None) -> dict[str, str]:
    base = base_url(request)
    return {
        "entity_id": base + reverse("federation_public:saml_metadata", args=[tenant_slug]),
        "acs": base + reverse("federation_public:saml_acs", args=[tenant_slug]),
        "sls": base + reverse("federation_public:saml_sls", args=[tenant_slug]),
    }


def valid_certificates(connection: IdpConnection, at: datetime | None = None) -> list[str]:
    at = at or timezone.now()
    return [c.pem for c in connection.certificates.all() if c.not_before <= at < c.not_after]


def saml_settings(
    connection: IdpConnection, tenant_slug: str, request: HttpRequest | None
) -> OneLogin_Saml2_Settings:
    urls = sp_urls(tenant_slug, request)
    key, cert = sp_key_pair()
    idp: dict[str, Any] = {
        "entityId": connection.idp_entity_id or "urn:custos:unconfigured",
        "singleSignOnService": {
            "url": connection.sso_url or urls["acs"],
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        },
    }
    if connection.slo_url:
        idp["singleLogoutService"] = {
            "url": connection.slo_url,
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        }
    certs = valid_certificates(connection)
    # No valid certificate: a placeholder that can verify nothing (every response refused).
    idp["x509certMulti"] = {"signing": certs or [cert], "encryption": []}
    if not certs:
        idp["x509certMulti"]["signing"] = []
        idp["certFingerprint"] = "0" * 64
        idp["certFingerprintAlgorithm"] = "sha256"
    data = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": urls["entity_id"],
            "assertionConsumerService": {
                "url": urls["acs"],
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
            },
            "singleLogoutService": {
                "url": urls["sls"],
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
            },
            "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_UNSPECIFIED,
            "x509cert": cert,
            "privateKey": key,
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": False,
            "logoutRequestSigned": False,
            "logoutResponseSigned": False,
            "wantMessagesSigned": False,
            "wantAssertionsSigned": True,
            "wantAssertionsEncrypted": False,
            "wantNameId": True,
            "wantNameIdEncrypted": False,
            "wantAttributeStatement": False,
            "requestedAuthnContext": False,
            "rejectDeprecatedAlgorithm": True,
            "rejectUnsolicitedResponsesWithInResponseTo": True,
            "allowRepeatAttributeName": True,
            "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
            "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
            "metadataValidUntil": None,
            "metadataCacheDuration": None,
        },
    }
    return OneLogin_Saml2_Settings(data, sp_validation_only=not certs)


def sp_metadata(connection: IdpConnection | None, tenant_slug: str, request: HttpRequest) -> str:
    urls = sp_urls(tenant_slug, request)
    _key, cert = sp_key_pair()
    sp = {
        "entityId": urls["entity_id"],
        "assertionConsumerService": {
            "url": urls["acs"],
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
        },
        "singleLogoutService": {
            "url": urls["sls"],
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        },
        "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_UNSPECIFIED,
        "x509cert": cert,
    }
    xml = OneLogin_Saml2_Settings(
        {"strict": True, "sp": sp, "security": {"wantAssertionsSigned": True}},
        sp_validation_only=True,
    ).get_sp_metadata()
    return xml.decode() if isinstance(xml, bytes) else xml


def request_data(request: HttpRequest) -> dict[str, Any]:
    base = base_url(request)
    https = base.startswith("https://")
    host = base.split("://", 1)[1]
    return {
        "https": "on" if https else "off",
        "http_host": host,
        "script_name": request.path,
        "get_data": request.GET.copy(),
        "post_data": request.POST.copy(),
    }


# --- Parsed login ----------------------------------------------------------------------------


@dataclass
class SamlLogin:
    issuer: str
    subject: str
    attributes: dict[str, list[str]]
    session_index: str
    authn_contexts: list[str]
    assertion_id: str
    not_on_or_after: datetime | None
    in_response_to: str

    @property
    def mfa(self) -> bool:
        return any(c in MFA_AUTHN_CONTEXTS for c in self.authn_contexts)


def acs_process(
    *,
    connection: IdpConnection,
    tenant_slug: str,
    request: HttpRequest,
    pending_request_ids: list[str],
) -> SamlLogin:
    """Validate a posted SAMLResponse; raise SamlError with a reason code otherwise."""
    if "SAMLResponse" not in request.POST:
        raise SamlError("missing_response")
    if not valid_certificates(connection):
        raise SamlError("no_valid_certificate")
    settings_obj = saml_settings(connection, tenant_slug, request)
    auth = OneLogin_Saml2_Auth(request_data(request), old_settings=settings_obj)
    # Find which of our outstanding AuthnRequests this answers (InResponseTo).
    from onelogin.saml2.response import OneLogin_Saml2_Response

    try:
        parsed = OneLogin_Saml2_Response(settings_obj, request.POST["SAMLResponse"])
        in_response_to = parsed.get_in_response_to() or ""
    except Exception as exc:
        raise SamlError("malformed_response", str(exc)[:200]) from exc
    if parsed.encrypted and not connection.accept_encrypted:
        raise SamlError("encrypted_not_accepted")
    if in_response_to:
        if in_response_to not in pending_request_ids:
            raise SamlError("unknown_in_response_to")
    elif not connection.allow_idp_initiated:
        raise SamlError("idp_initiated_not_allowed")
    try:
        auth.process_response(request_id=in_response_to or None)
    except Exception as exc:
        raise SamlError("invalid_response", str(exc)[:200]) from exc
    errors = auth.get_errors()
    if errors or not auth.is_authenticated():
        raise SamlError(
            "invalid_response", (auth.get_last_error_reason() or ",".join(errors))[:300]
        )
    subject = auth.get_nameid() or ""
    if not subject:
        raise SamlError("missing_subject")
    not_after_ts = auth.get_last_assertion_not_on_or_after()
    not_after = datetime.fromtimestamp(not_after_ts, UTC) if not_after_ts else None
    return SamlLogin(
        issuer=connection.idp_entity_id,
        subject=subject,
        attributes={k: [str(x) for x in v] for k, v in (auth.get_attributes() or {}).items()},
        session_index=auth.get_session_index() or "",
        authn_contexts=list(auth.get_last_authn_contexts() or []),
        assertion_id=auth.get_last_assertion_id() or "",
        not_on_or_after=not_after,
        in_response_to=in_response_to,
    )


def login_url(
    *, connection: IdpConnection, tenant_slug: str, request: HttpRequest, relay_state: str
) -> tuple[str, str]:
    """(redirect URL to the IdP, AuthnRequest id to remember in the session)."""
    auth = OneLogin_Saml2_Auth(
        request_data(request), old_settings=saml_settings(connection, tenant_slug, request)
    )
    url = auth.login(return_to=relay_state or None)
    return url, auth.get_last_request_id()


def fingerprint(pem: str) -> str:
    return hashlib.sha256(pem.encode()).hexdigest()


def response_issuer(saml_response_b64: str) -> str:
    """The Issuer of a posted response (unverified; only used to pick the connection whose
    certificates will then verify it)."""
    if not saml_response_b64:
        return ""
    try:
        from onelogin.saml2.utils import OneLogin_Saml2_XML

        xml = OneLogin_Saml2_Utils.b64decode(saml_response_b64)
        doc = OneLogin_Saml2_XML.to_etree(xml)
        nodes = OneLogin_Saml2_XML.query(doc, "/samlp:Response/saml:Issuer") or (
            OneLogin_Saml2_XML.query(doc, "/samlp:Response/saml:Assertion/saml:Issuer")
        )
        return OneLogin_Saml2_XML.element_text(nodes[0]).strip() if nodes else ""
    except Exception:  # malformed input: no issuer, the caller refuses
        return ""


def sls_process(
    *, connection: IdpConnection, tenant_slug: str, request: HttpRequest, logout: Any
) -> str | None:
    """Handle a LogoutRequest or LogoutResponse from the IdP: '' or a redirect URL when
    valid (the local session is ended), None when refused."""
    auth = OneLogin_Saml2_Auth(
        request_data(request), old_settings=saml_settings(connection, tenant_slug, request)
    )
    try:
        url = auth.process_slo(delete_session_cb=logout)
    except Exception:
        return None
    if auth.get_errors():
        return None
    return url or ""
