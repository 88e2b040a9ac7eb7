"""DNS TXT look-ups for domain verification, behind a small interface.

The DNS is the outside world: production uses dnspython (`DnsPythonResolver`, short timeouts,
no search domains); tests and air-gapped set-ups name another resolver class in the setting
`FEDERATION_DNS_RESOLVER` (dotted path), e.g. a fake with fixed answers.
"""

from __future__ import annotations

from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_RESOLVER = "apps.identity.federation.dns.DnsPythonResolver"
LOOKUP_SECONDS = 5.0


class DnsLookupError(Exception):
    """The name could not be looked up (timeout, SERVFAIL…); the message is safe to show."""


class TxtResolver(Protocol):
    def txt_records(self, name: str) -> list[str]:
        """Every TXT string at `name` (each record's strings joined); [] when the name or the
        record does not exist. Raises DnsLookupError when the answer is unknown."""
        ...


class DnsPythonResolver:
    def txt_records(self, name: str) -> list[str]:
        import dns.exception
        import dns.resolver

        try:
            resolver = dns.resolver.Resolver()
            resolver.lifetime = LOOKUP_SECONDS
            resolver.timeout = LOOKUP_SECONDS / 2
            answer = resolver.resolve(name, "TXT", search=False, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers) as exc:
            if isinstance(exc, dns.resolver.NXDOMAIN):
                return []
            raise DnsLookupError("no name server answered") from exc
        except dns.exception.Timeout as exc:
            raise DnsLookupError("the DNS look-up timed out") from exc
        except dns.exception.DNSException as exc:
            raise DnsLookupError(f"the DNS look-up failed ({type(exc).__name__})") from exc
        records = []
        for rdata in answer:
            strings = getattr(rdata, "strings", ())
            records.append(b"".join(strings).decode("utf-8", "replace"))
        return records


def resolver_get() -> TxtResolver:
    path = getattr(settings, "FEDERATION_DNS_RESOLVER", "") or DEFAULT_RESOLVER
    resolver: TxtResolver = import_string(path)()
    return resolver


def verification_names(domain: str) -> tuple[str, ...]:
    """Where the TXT record may be published: the domain itself, or a dedicated name (for
    domains whose apex TXT records are managed elsewhere)."""
    return (domain, f"_custos-verification.{domain}")
