# ruff: noqa: E501
"""A real SAML IdP for tests: its own RSA key and X.509 certificate, assertions signed by
xmlsec through python3-saml's signing utility (OneLogin_Saml2_Utils.add_sign)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.utils import OneLogin_Saml2_Utils


def make_key_and_cert(
    cn: str, *, not_before: datetime | None = None, days: int = 365
) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64cert(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if "CERTIFICATE" not in line)


class SamlTestIdp:
    def __init__(self, entity_id: str = "https://idp.example.test/saml", cn: str = "idp") -> None:
        self.entity_id = entity_id
        self.key, self.cert = make_key_and_cert(cn)
        self.sso_url = entity_id.rsplit("/", 1)[0] + "/sso"
        self.slo_url = entity_id.rsplit("/", 1)[0] + "/slo"

    def metadata(self, extra_certs: tuple[str, ...] = ()) -> str:
        keys = "".join(
            f"""<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{_b64cert(c)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"""
            for c in (self.cert, *extra_certs)
        )
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false">
    {keys}
    <md:SingleLogoutService Binding="{C.BINDING_HTTP_REDIRECT}" Location="{self.slo_url}"/>
    <md:SingleSignOnService Binding="{C.BINDING_HTTP_REDIRECT}" Location="{self.sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    def response(
        self,
        *,
        acs: str,
        audience: str,
        name_id: str,
        attributes: dict[str, list[str]] | None = None,
        in_response_to: str | None = None,
        issuer: str | None = None,
        destination: str | None = None,
        recipient: str | None = None,
        not_on_or_after: datetime | None = None,
        sign: bool = True,
        sign_algorithm: str = C.RSA_SHA256,
        digest_algorithm: str = C.SHA256,
        key: str | None = None,
        cert: str | None = None,
        authn_context: str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        assertion_id: str | None = None,
        raw_name_id_xml: str | None = None,
        encrypt_for: str | None = None,
        key_transport: str = "rsa-oaep",
        response_issuer: bool = True,
        session_index: str | None = None,
    ) -> str:
        now = datetime.now(UTC)
        nooa = not_on_or_after or now + timedelta(minutes=5)
        issuer = issuer or self.entity_id
        irt = f' InResponseTo="{in_response_to}"' if in_response_to else ""
        aid = assertion_id or "_a" + uuid.uuid4().hex
        attrs = "".join(
            f'<saml:Attribute Name="{name}">'
            + "".join(f"<saml:AttributeValue>{v}</saml:AttributeValue>" for v in values)
            + "</saml:Attribute>"
            for name, values in (attributes or {}).items()
        )
        name_id_xml = raw_name_id_xml or (
            f'<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID>'
        )
        assertion = f"""<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="{aid}" Version="2.0" IssueInstant="{_ts(now)}"><saml:Issuer>{issuer}</saml:Issuer><saml:Subject>{name_id_xml}<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{_ts(nooa)}" Recipient="{recipient or acs}"{irt}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{_ts(now - timedelta(minutes=1))}" NotOnOrAfter="{_ts(nooa)}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{_ts(now)}" SessionIndex="{session_index or "_s" + uuid.uuid4().hex}"><saml:AuthnContext><saml:AuthnContextClassRef>{authn_context}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>"""
        if sign:
            signed = OneLogin_Saml2_Utils.add_sign(
                assertion,
                key or self.key,
                cert or self.cert,
                sign_algorithm=sign_algorithm,
                digest_algorithm=digest_algorithm,
            )
            assertion = signed.decode() if isinstance(signed, bytes) else signed
            assertion = assertion.replace('<?xml version="1.0"?>\n', "").replace(
                '<?xml version="1.0"?>', ""
            )
        if encrypt_for:
            assertion = encrypt_assertion(assertion, encrypt_for, key_transport=key_transport)
        response_issuer_xml = f"<saml:Issuer>{issuer}</saml:Issuer>" if response_issuer else ""
        response = f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_ts(now)}" Destination="{destination or acs}"{irt}>{response_issuer_xml}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{assertion}</samlp:Response>"""
        return response

    @staticmethod
    def encode(xml: str) -> str:
        return base64.b64encode(xml.encode()).decode()

    # --- Single logout: python3-saml playing the IdP's side (its Auth/Logout classes with the
    # roles swapped: "sp" = this IdP, "idp" = Custos), so messages are built, signed and
    # verified by the same real implementation, not by hand.

    def slo_settings(self, *, sp_entity_id: str, sp_sls: str, sp_cert: str) -> Any:
        from onelogin.saml2.settings import OneLogin_Saml2_Settings

        return OneLogin_Saml2_Settings(
            {
                "strict": True,
                "sp": {
                    "entityId": self.entity_id,
                    "assertionConsumerService": {"url": self.sso_url},
                    "singleLogoutService": {"url": self.slo_url},
                    "x509cert": self.cert,
                    "privateKey": self.key,
                },
                "idp": {
                    "entityId": sp_entity_id,
                    "singleSignOnService": {"url": sp_sls},
                    "singleLogoutService": {"url": sp_sls},
                    "x509cert": sp_cert,
                },
                "security": {
                    "logoutRequestSigned": True,
                    "logoutResponseSigned": True,
                    "wantMessagesSigned": True,
                    "signatureAlgorithm": C.RSA_SHA256,
                    "digestAlgorithm": C.SHA256,
                    "rejectDeprecatedAlgorithm": True,
                },
            }
        )

    def _request_data(self, url: str) -> dict[str, Any]:
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(url)
        return {
            "https": "on",
            "http_host": parts.netloc,
            "script_name": parts.path,
            "get_data": {k: v[0] for k, v in parse_qs(parts.query).items()},
            "query_string": parts.query,
            "validate_signature_from_qs": True,
        }

    def answer_logout_request(self, url: str, **settings_kw: Any) -> tuple[str, str]:
        """Verify the SP's LogoutRequest (the redirect URL the SP sent the browser to) and
        answer with a signed LogoutResponse: (URL back to the SP's SLS, NameID logged out)."""
        from onelogin.saml2.auth import OneLogin_Saml2_Auth
        from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request

        auth = OneLogin_Saml2_Auth(self._request_data(url), self.slo_settings(**settings_kw))
        answer = auth.process_slo(keep_local_session=True)
        assert not auth.get_errors(), (auth.get_errors(), auth.get_last_error_reason())
        name_id = OneLogin_Saml2_Logout_Request.get_nameid(auth.get_last_request_xml())
        return answer, name_id

    def logout_request(
        self, *, name_id: str, session_index: str | None = None, **settings_kw: Any
    ) -> tuple[str, str]:
        """An IdP-initiated, signed LogoutRequest: (URL to the SP's SLS, request id)."""
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        auth = OneLogin_Saml2_Auth(
            self._request_data(self.slo_url), self.slo_settings(**settings_kw)
        )
        url = auth.logout(
            name_id=name_id,
            session_index=session_index,
            name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            return_to="https://idp.example.test/after-logout",
        )
        return url, auth.get_last_request_id()

    def check_logout_response(self, url: str, request_id: str, **settings_kw: Any) -> None:
        """Verify the SP's signed LogoutResponse to our LogoutRequest."""
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        auth = OneLogin_Saml2_Auth(self._request_data(url), self.slo_settings(**settings_kw))
        auth.process_slo(keep_local_session=True, request_id=request_id)
        assert not auth.get_errors(), (auth.get_errors(), auth.get_last_error_reason())


KEY_TRANSPORTS = {"rsa-oaep": "RSA_OAEP", "rsa-1_5": "RSA_PKCS1"}


def encrypt_assertion(assertion_xml: str, sp_cert_pem: str, *, key_transport: str) -> str:
    """<saml:EncryptedAssertion> around the (signed) assertion, encrypted by xmlsec for the
    SP's certificate: AES-256-CBC content key, wrapped with RSA-OAEP (or PKCS#1 v1.5)."""
    import importlib

    from lxml import etree

    xmlsec: Any = importlib.import_module("xmlsec")  # its type stubs lack the encryption API
    wrapper = etree.fromstring(
        '<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">'
        + assertion_xml
        + "</saml:EncryptedAssertion>"
    )
    assertion = wrapper[0]
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(sp_cert_pem, xmlsec.KeyFormat.CERT_PEM, None))
    template = xmlsec.template.encrypted_data_create(
        wrapper, xmlsec.Transform.AES256, type=xmlsec.EncryptionType.ELEMENT, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="dsig")
    encrypted_key = xmlsec.template.add_encrypted_key(
        key_info, getattr(xmlsec.Transform, KEY_TRANSPORTS[key_transport])
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(xmlsec.KeyData.AES, 256, xmlsec.KeyDataType.SESSION)
    context.encrypt_xml(template, assertion)
    return etree.tostring(wrapper).decode()
