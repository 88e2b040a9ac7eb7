"""SAML 2.0 service provider per tenant, on python3-saml (onelogin.saml2).

Strict mode always; assertions must be signed (response signature alone is not enough);
SHA-1 signatures and digests are refused; audience, recipient, destination, NotOnOrAfter and
InResponseTo are checked by the library; replay is ours (UsedAssertion). Every IdP certificate
inside its validity window verifies, so a rotation needs no downtime.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from lxml import etree
from onelogin.saml2 import xml_utils as onelogin_xml_utils
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from apps.core.crypto.fields import field_secret_get
from apps.identity.federation.models import IdpConnection

MFA_AUTHN_CONTEXTS = (
    "https://refeds.org/profile/mfa",
    "http://schemas.microsoft.com/claims/multipleauthn",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
)


# python3-saml compiles the SAML protocol XSD (with the assertion, xmldsig and xenc schemas
# it imports) on every message it validates — twice for an encrypted assertion. Compiled once
# per thread instead (lxml schema objects keep an error log, so they are not shared across
# threads); same validation, same return values.
_schemas = threading.local()


def _validate_xml_cached(xml: Any, schema: str, debug: bool = False) -> Any:
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:  # the library's own contract: an error code, not an exception
        return "unloaded_xml"
    cache: dict[str, Any] = getattr(_schemas, "compiled", None) or {}
    _schemas.compiled = cache
    validator = cache.get(schema)
    if validator is None:
        path = Path(onelogin_xml_utils.__file__).parent / "schemas" / schema
        with path.open() as handle:
            validator = OneLogin_Saml2_XML._schema_class(etree.parse(handle))
        cache[schema] = validator
    if not validator.validate(xml):
        return "invalid_xml"
    return xml


OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml_cached)  # type: ignore[method-assign,assignment]


class SamlError(Exception):
    """A SAML message was refused; `reason` is a short code for the audit log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


# --- SP key pair (one per connection: signs our logout messages, decrypts assertions) -------


def sp_key_generate(common_name: str) -> tuple[str, str]:
    """A new RSA-2048 key and a self-signed certificate (10 years): (key PEM, cert PEM). SAML
    uses the certificate only as a key container, so self-signed is what IdPs expect."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def sp_key_pair(connection: IdpConnection) -> tuple[str, str]:
    """(private key PEM, certificate PEM) of the connection, created on first use."""
    if not connection.sp_certificate or not connection.sp_private_key:
        from apps.identity.federation.services.config import connection_sp_key_ensure

        connection_sp_key_ensure(connection=connection)
    return field_secret_get(connection, "sp_private_key"), connection.sp_certificate


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
    connection: IdpConnection,
    tenant_slug: str,
    request: HttpRequest | None,
    *,
    logout: bool = False,
    private_key: bool = True,
) -> OneLogin_Saml2_Settings:
    """python3-saml settings of one connection. `logout=True` for single logout: then every
    LogoutRequest/LogoutResponse must carry a valid signature, and ours are signed (the
    assertion consumer keeps wantMessagesSigned off: there the assertion signature counts).
    `private_key=False` where nothing is signed or decrypted by us (the unsigned AuthnRequest,
    a plain assertion): the SP key then stays encrypted in the database, unread."""
    urls = sp_urls(tenant_slug, request)
    if private_key or not connection.sp_certificate:
        key, cert = sp_key_pair(connection)
    else:
        key, cert = "", connection.sp_certificate
    if not key:
        private_key = False
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
    # No valid certificate: a placeholder that can verify nothing (every message refused).
    idp["x509certMulti"] = {"signing": certs, "encryption": []}
    if not certs:
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
            "logoutRequestSigned": private_key,
            "logoutResponseSigned": private_key,
            "wantMessagesSigned": logout,
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
    """The SP metadata of a tenant. With a connection: its certificate is published for
    signing (our logout messages) and, when it accepts encrypted assertions, for encryption."""
    urls = sp_urls(tenant_slug, request)
    sp: dict[str, Any] = {
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
    }
    encrypted = False
    if connection is not None:
        sp["privateKey"], sp["x509cert"] = sp_key_pair(connection)
        encrypted = connection.accept_encrypted
    xml = OneLogin_Saml2_Settings(
        {
            "strict": True,
            "sp": sp,
            "security": {
                "wantAssertionsSigned": True,
                "wantAssertionsEncrypted": encrypted,
                "logoutRequestSigned": connection is not None,
                "wantMessagesSigned": connection is not None,
            },
        },
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
        # Redirect-binding signatures are checked over the query string as sent (IdPs differ
        # in URL-encoding; re-encoding the parsed values would break valid signatures).
        "query_string": request.META.get("QUERY_STRING", ""),
        "validate_signature_from_qs": True,
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
    name_id_format: str = ""
    name_id_nq: str = ""
    name_id_spnq: str = ""
    encrypted: bool = False

    @property
    def mfa(self) -> bool:
        return any(c in MFA_AUTHN_CONTEXTS for c in self.authn_contexts)


# Key transport with RSA PKCS#1 v1.5 is open to Bleichenbacher-style oracles: refused.
REFUSED_ENCRYPTION_ALGORITHMS = ("http://www.w3.org/2001/04/xmlenc#rsa-1_5",)


def acs_process(
    *,
    connection: IdpConnection,
    tenant_slug: str,
    request: HttpRequest,
    pending_request_ids: list[str],
    peek: ResponsePeek | None = None,
) -> SamlLogin:
    """Validate a posted SAMLResponse; raise SamlError with a reason code otherwise. An
    encrypted assertion is decrypted with the connection's SP key, then verified like a
    plain one (the signature is inside the encryption)."""
    from onelogin.saml2.response import OneLogin_Saml2_Response

    raw = request.POST.get("SAMLResponse")
    if not raw:
        raise SamlError("missing_response")
    if not valid_certificates(connection):
        raise SamlError("no_valid_certificate")
    peek = peek or response_peek(raw)
    if peek.malformed:
        raise SamlError("malformed_response", "not a base64-encoded XML document")
    encryption = peek.encryption
    if peek.encrypted:
        if not connection.accept_encrypted:
            raise SamlError("encrypted_not_accepted")
        refused = sorted(set(encryption) & set(REFUSED_ENCRYPTION_ALGORITHMS))
        if refused:
            raise SamlError("deprecated_encryption", ",".join(refused))
    # The SP key is read (a data-key query and an AES-GCM open) only to decrypt.
    settings_obj = saml_settings(connection, tenant_slug, request, private_key=peek.encrypted)
    try:
        parsed = OneLogin_Saml2_Response(settings_obj, raw)
        in_response_to = parsed.get_in_response_to() or ""
    except Exception as exc:  # undecryptable or malformed
        raise SamlError("malformed_response", str(exc)[:200]) from exc
    if in_response_to:
        if in_response_to not in pending_request_ids:
            raise SamlError("unknown_in_response_to")
    elif not connection.allow_idp_initiated:
        raise SamlError("idp_initiated_not_allowed")
    try:
        valid = parsed.is_valid(request_data(request), in_response_to or None)
    except Exception as exc:
        raise SamlError("invalid_response", str(exc)[:200]) from exc
    if not valid:
        raise SamlError("invalid_response", str(parsed.get_error() or "")[:300])
    try:
        subject = parsed.get_nameid() or ""
        nq = parsed.get_nameid_nq() or ""
        spnq = parsed.get_nameid_spnq() or ""
        name_id_format = parsed.get_nameid_format() or ""
    except Exception as exc:
        raise SamlError("missing_subject", str(exc)[:200]) from exc
    if not subject:
        raise SamlError("missing_subject")
    not_after_ts = parsed.get_assertion_not_on_or_after()
    not_after = datetime.fromtimestamp(not_after_ts, UTC) if not_after_ts else None
    return SamlLogin(
        issuer=connection.idp_entity_id,
        subject=subject,
        attributes={k: [str(x) for x in v] for k, v in (parsed.get_attributes() or {}).items()},
        session_index=parsed.get_session_index() or "",
        authn_contexts=list(parsed.get_authn_contexts() or []),
        assertion_id=parsed.get_assertion_id() or "",
        not_on_or_after=not_after,
        in_response_to=in_response_to,
        name_id_format=name_id_format,
        name_id_nq=nq,
        name_id_spnq=spnq,
        encrypted=peek.encrypted,
    )


def login_url(
    *, connection: IdpConnection, tenant_slug: str, request: HttpRequest, relay_state: str
) -> tuple[str, str]:
    """(redirect URL to the IdP, AuthnRequest id to remember in the session)."""
    auth = OneLogin_Saml2_Auth(  # AuthnRequests are not signed: no SP key needed
        request_data(request),
        old_settings=saml_settings(connection, tenant_slug, request, private_key=False),
    )
    url = auth.login(return_to=relay_state or None)
    return url, auth.get_last_request_id()


def fingerprint(pem: str) -> str:
    return hashlib.sha256(pem.encode()).hexdigest()


@dataclass(frozen=True)
class ResponsePeek:
    """What is read from a posted response before it is verified: its Issuer (to pick the
    connection whose certificates then verify it) and the encryption algorithms named by an
    encrypted assertion (refused early when deprecated). Parsed once per request."""

    issuer: str = ""
    encryption: tuple[str, ...] = ()
    malformed: bool = False
    encrypted: bool = False  # any xenc:EncryptedData (assertion, NameID or attribute)


def response_peek(saml_response_b64: str) -> ResponsePeek:
    if not saml_response_b64:
        return ResponsePeek(malformed=True)
    try:
        xml = OneLogin_Saml2_Utils.b64decode(saml_response_b64)
        doc = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:  # not base64 / not XML: the caller refuses
        return ResponsePeek(malformed=True)
    nodes = OneLogin_Saml2_XML.query(doc, "/samlp:Response/saml:Issuer") or (
        OneLogin_Saml2_XML.query(doc, "/samlp:Response/saml:Assertion/saml:Issuer")
    )
    issuer = OneLogin_Saml2_XML.element_text(nodes[0]).strip() if nodes else ""
    methods = OneLogin_Saml2_XML.query(
        doc, "/samlp:Response/saml:EncryptedAssertion//xenc:EncryptionMethod"
    )
    return ResponsePeek(
        issuer=issuer or "",
        encryption=tuple(str(n.get("Algorithm", "")) for n in methods),
        encrypted=bool(methods or OneLogin_Saml2_XML.query(doc, "//xenc:EncryptedData")),
    )


def response_issuer(saml_response_b64: str) -> str:
    """The Issuer of a posted response (unverified)."""
    return response_peek(saml_response_b64).issuer


# --- Single logout (HTTP-Redirect binding, signed both ways) -------------------------------


def logout_message_issuer(get_data: Any) -> str:
    """The Issuer of a redirect-binding LogoutRequest/LogoutResponse (unverified: it picks
    the connection whose certificates then verify the signature)."""
    raw = get_data.get("SAMLRequest") or get_data.get("SAMLResponse") or ""
    if not raw:
        return ""
    try:
        from onelogin.saml2.utils import OneLogin_Saml2_XML

        doc = OneLogin_Saml2_XML.to_etree(OneLogin_Saml2_Utils.decode_base64_and_inflate(raw))
        nodes = OneLogin_Saml2_XML.query(doc, "/*/saml:Issuer")
        return OneLogin_Saml2_XML.element_text(nodes[0]).strip() if nodes else ""
    except Exception:  # malformed input: no issuer, the caller refuses
        return ""


def logout_request_url(
    *,
    connection: IdpConnection,
    tenant_slug: str,
    request: HttpRequest,
    name_id: str,
    session_index: str,
    name_id_format: str = "",
    nq: str = "",
    spnq: str = "",
    relay_state: str = "",
) -> tuple[str, str]:
    """SP-initiated single logout: (redirect URL carrying our signed LogoutRequest, its id)."""
    if not connection.slo_url:
        raise SamlError("no_slo_endpoint")
    auth = OneLogin_Saml2_Auth(
        request_data(request),
        old_settings=saml_settings(connection, tenant_slug, request, logout=True),
    )
    url = auth.logout(
        return_to=relay_state or None,
        name_id=name_id,
        session_index=session_index or None,
        name_id_format=name_id_format or None,
        nq=nq or None,
        spnq=spnq or None,
    )
    return url, auth.get_last_request_id()


@dataclass
class SloOutcome:
    """What the SLS made of a message: a LogoutResponse to our request, or an IdP-initiated
    LogoutRequest (then `redirect_url` carries our signed LogoutResponse)."""

    kind: str  # "response" | "request"
    message_id: str
    redirect_url: str = ""
    name_id: str = ""
    session_indexes: list[str] = field(default_factory=list)
    not_on_or_after: datetime | None = None


def sls_process(
    *,
    connection: IdpConnection,
    tenant_slug: str,
    request: HttpRequest,
    pending_logout_id: str | None,
) -> SloOutcome:
    """Verify a LogoutResponse (it must answer `pending_logout_id`) or an IdP-initiated
    LogoutRequest (signature, issuer, destination, NotOnOrAfter). Raises SamlError."""
    from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request

    get_data = request.GET
    if "SAMLResponse" in get_data:
        if not pending_logout_id:
            raise SamlError("unsolicited_logout_response")
        kind = "response"
    elif "SAMLRequest" in get_data:
        kind = "request"
    else:
        raise SamlError("missing_logout_message")
    if not valid_certificates(connection):
        raise SamlError("no_valid_certificate")
    auth = OneLogin_Saml2_Auth(
        request_data(request),
        old_settings=saml_settings(connection, tenant_slug, request, logout=True),
    )
    try:
        url = auth.process_slo(keep_local_session=True, request_id=pending_logout_id)
    except Exception as exc:
        raise SamlError("invalid_logout", str(exc)[:200]) from exc
    errors = auth.get_errors()
    if errors:
        reason = "logout_not_success" if "logout_not_success" in errors else "invalid_logout"
        raise SamlError(reason, (auth.get_last_error_reason() or ",".join(errors))[:300])
    outcome = SloOutcome(kind=kind, message_id=auth.get_last_message_id() or "")
    if kind == "request":
        xml = auth.get_last_request_xml()
        outcome.redirect_url = url or ""
        outcome.name_id = OneLogin_Saml2_Logout_Request.get_nameid(xml) or ""
        outcome.session_indexes = list(OneLogin_Saml2_Logout_Request.get_session_indexes(xml))
        from onelogin.saml2.utils import OneLogin_Saml2_XML

        doc = OneLogin_Saml2_XML.to_etree(xml)
        nooa = doc.get("NotOnOrAfter")
        if nooa:
            outcome.not_on_or_after = datetime.fromtimestamp(
                OneLogin_Saml2_Utils.parse_SAML_to_time(nooa), UTC
            )
    return outcome
