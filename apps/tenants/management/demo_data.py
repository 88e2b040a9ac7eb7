"""The demo data set used by `manage.py seed_demo`, and the demo-only TOTP secret derivation.

Everything here is fictitious (``*.example`` addresses). Every demo account has the same
password, DEMO_PASSWORD; accounts that must use MFA get an authenticator whose secret is
derived from the email address (see `demo_totp_key`), so anybody running the demo can compute
the current code with `manage.py demo_totp EMAIL`. Never use this data outside a demo.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date

DEMO_PASSWORD = "custos-demo-2026"  # noqa: S105 -- documented demo password (README.md)
# Demo-only derivation of the TOTP secret: HMAC-SHA256(DEMO_TOTP_LABEL, lower-cased email),
# first 20 bytes, as the hex key django-otp stores. Public on purpose: a demo must be usable.
DEMO_TOTP_LABEL = b"custos-demo-totp-v1"


def demo_totp_key(email: str) -> str:
    """The hex TOTP key of a demo account (20 bytes, django-otp's default length)."""
    digest = hmac.new(DEMO_TOTP_LABEL, email.strip().lower().encode(), hashlib.sha256).digest()
    return digest[:20].hex()


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: str  # TenantRole value
    department: str = ""
    title: str = ""
    manager: str = ""  # email of the manager (must come earlier in the same tenant)
    country: str = ""
    language: str = ""
    leaver: bool = False  # membership removed and account disabled (shows offboarding)
    featured: str = ""  # persona label when listed in the printed demo logins


@dataclass(frozen=True)
class Env:
    slug: str
    name: str
    kind: str
    sensitivity: str
    region: str
    on_premises: bool = False
    owner: str = ""  # email
    description: str = ""


@dataclass(frozen=True)
class ContractSpec:
    reference: str
    starts_on: date
    ends_on: date | None
    sla_hours: int


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    tier: str
    region: str
    data_residency: str
    time_zone: str
    parent: str = ""
    status: str = "active"
    status_reason: str = ""
    contracts: tuple[ContractSpec, ...] = ()
    environments: tuple[Env, ...] = ()
    people: tuple[Person, ...] = ()
    # People of another tenant who are also members here (email, role).
    extra_members: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class StaffSpec:
    email: str
    name: str
    staff_role: str  # StaffRole value
    country: str
    language: str
    time_zone: str
    featured: str = ""


ADMIN = "customer_admin"
DELEGATED = "delegated_admin"
APPROVER = "approver"
REVIEWER = "reviewer"
MEMBER = "member"

TENANTS: tuple[TenantSpec, ...] = (
    TenantSpec(
        slug="acme",
        name="ACME Corp",
        tier="enterprise",
        region="eu",
        data_residency="eu",
        time_zone="Europe/Berlin",
        contracts=(
            ContractSpec("ACME-MSA-2024", date(2024, 1, 1), date(2027, 12, 31), 8),
            ContractSpec("ACME-SUP-2025", date(2025, 4, 1), date(2027, 12, 31), 4),
        ),
        environments=(
            Env(
                "sap-finance",
                "SAP S/4HANA Finance",
                "application",
                "restricted",
                "eu",
                on_premises=True,
                owner="katrin.mueller@acme.example",
                description="General ledger, payables and receivables; runs in ACME's "
                "Frankfurt data centre.",
            ),
            Env(
                "customer-data-lake",
                "Customer Data Lake",
                "dataset",
                "restricted",
                "eu",
                owner="felix.wagner@acme.example",
                description="Consolidated customer and order data (personal data, EU only).",
            ),
            Env(
                "salesforce-crm",
                "Salesforce CRM",
                "application",
                "confidential",
                "eu",
                owner="sophie.braun@acme.example",
            ),
            Env(
                "workday-hr",
                "Workday HR",
                "application",
                "restricted",
                "eu",
                owner="anna.schmidt@acme.example",
            ),
            Env(
                "engineering-workspace",
                "Engineering Workspace",
                "workspace",
                "internal",
                "eu",
                owner="felix.wagner@acme.example",
            ),
            Env("marketing-analytics", "Marketing Analytics", "dataset", "internal", "eu"),
            Env("status-page", "Public Status Page", "application", "public", "global"),
        ),
        people=(
            Person(
                "anna.schmidt@acme.example",
                "Anna Schmidt",
                ADMIN,
                "IT",
                "Head of IT Security",
                country="DE",
                language="de",
                featured="Customer admin",
            ),
            Person(
                "jonas.weber@acme.example",
                "Jonas Weber",
                DELEGATED,
                "IT",
                "IAM Engineer",
                manager="anna.schmidt@acme.example",
                country="DE",
                language="de",
                featured="Delegated admin (two tenants)",
            ),
            Person(
                "katrin.mueller@acme.example",
                "Katrin Müller",
                APPROVER,
                "Finance",
                "Finance Controller",
                country="DE",
                language="de",
                featured="Approver",
            ),
            Person(
                "felix.wagner@acme.example",
                "Felix Wagner",
                APPROVER,
                "Engineering",
                "Engineering Manager",
                country="DE",
                language="en",
            ),
            Person(
                "sabine.hoffmann@acme.example",
                "Sabine Hoffmann",
                REVIEWER,
                "Internal Audit",
                "Internal Auditor",
                country="DE",
                language="de",
                featured="Customer reviewer",
            ),
            Person(
                "lena.fischer@acme.example",
                "Lena Fischer",
                MEMBER,
                "Finance",
                "Accountant",
                manager="katrin.mueller@acme.example",
                country="DE",
                language="de",
                featured="End user",
            ),
            Person(
                "max.keller@acme.example",
                "Max Keller",
                MEMBER,
                "Engineering",
                "Software Engineer",
                manager="felix.wagner@acme.example",
                country="AT",
                language="de",
            ),
            Person(
                "sophie.braun@acme.example",
                "Sophie Braun",
                MEMBER,
                "Sales",
                "Account Executive",
                country="DE",
                language="de",
            ),
            Person(
                "ahmed.yilmaz@acme.example",
                "Ahmed Yılmaz",  # noqa: RUF001 -- Turkish dotless i
                MEMBER,
                "Data & Analytics",
                "Data Analyst",
                manager="felix.wagner@acme.example",
                country="DE",
                language="en",
            ),
            Person(
                "tobias.richter@acme.example",
                "Tobias Richter",
                MEMBER,
                "Engineering",
                "Site Reliability Engineer",
                manager="felix.wagner@acme.example",
                country="DE",
                language="de",
                leaver=True,
            ),
        ),
    ),
    TenantSpec(
        slug="acme-labs",
        name="ACME Labs",
        tier="enterprise",
        region="eu",
        data_residency="eu",
        time_zone="Europe/Paris",
        parent="acme",
        contracts=(ContractSpec("ACME-LABS-2025", date(2025, 1, 1), date(2027, 12, 31), 8),),
        environments=(
            Env(
                "lab-notebooks",
                "Electronic Lab Notebooks",
                "application",
                "confidential",
                "eu",
                owner="julien.bernard@acme-labs.example",
            ),
            Env(
                "genomics-data",
                "Genomics Dataset",
                "dataset",
                "restricted",
                "eu",
                on_premises=True,
                owner="julien.bernard@acme-labs.example",
                description="Sequencing data on the HPC cluster in Lyon.",
            ),
            Env("ml-workspace", "ML Research Workspace", "workspace", "confidential", "eu"),
            Env("lab-inventory", "Lab Inventory", "application", "internal", "eu"),
        ),
        people=(
            Person(
                "claire.dubois@acme-labs.example",
                "Claire Dubois",
                ADMIN,
                "Informatique",
                "Responsable informatique",
                country="FR",
                language="fr",
                featured="Customer admin (subsidiary, French)",
            ),
            Person(
                "julien.bernard@acme-labs.example",
                "Julien Bernard",
                APPROVER,
                "Recherche",
                "Directeur de recherche",
                country="FR",
                language="fr",
            ),
            Person(
                "camille.petit@acme-labs.example",
                "Camille Petit",
                REVIEWER,
                "Qualité",
                "Responsable qualité",
                country="FR",
                language="fr",
            ),
            Person(
                "hugo.lefevre@acme-labs.example",
                "Hugo Lefèvre",
                MEMBER,
                "Recherche",
                "Bio-informaticien",
                manager="julien.bernard@acme-labs.example",
                country="FR",
                language="fr",
            ),
            Person(
                "chloe.garnier@acme-labs.example",
                "Chloé Garnier",
                MEMBER,
                "Recherche",
                "Ingénieure de recherche",
                manager="julien.bernard@acme-labs.example",
                country="FR",
                language="fr",
            ),
        ),
        extra_members=(("jonas.weber@acme.example", DELEGATED),),
    ),
    TenantSpec(
        slug="globex",
        name="Globex Corporation",
        tier="standard",
        region="us",
        data_residency="",
        time_zone="America/New_York",
        contracts=(ContractSpec("GLX-2025-001", date(2025, 3, 1), date(2027, 2, 28), 24),),
        environments=(
            Env(
                "billing",
                "Billing Platform",
                "application",
                "confidential",
                "us",
                owner="olivia.brooks@globex.example",
            ),
            Env("support-desk", "Support Desk", "application", "internal", "us"),
            Env(
                "sales-warehouse",
                "Sales Data Warehouse",
                "dataset",
                "confidential",
                "us",
                owner="olivia.brooks@globex.example",
            ),
            Env("developer-sandbox", "Developer Sandbox", "workspace", "internal", "us"),
            Env(
                "payroll",
                "Payroll",
                "application",
                "restricted",
                "us",
                owner="emily.carter@globex.example",
            ),
        ),
        people=(
            Person(
                "emily.carter@globex.example",
                "Emily Carter",
                ADMIN,
                "IT",
                "IT Director",
                country="US",
                language="en",
                featured="Customer admin",
            ),
            Person(
                "marcus.reed@globex.example",
                "Marcus Reed",
                DELEGATED,
                "IT",
                "Systems Administrator",
                manager="emily.carter@globex.example",
                country="US",
                language="en",
            ),
            Person(
                "olivia.brooks@globex.example",
                "Olivia Brooks",
                APPROVER,
                "Finance",
                "VP Finance",
                country="US",
                language="en",
            ),
            Person(
                "nathan.price@globex.example",
                "Nathan Price",
                REVIEWER,
                "Compliance",
                "Compliance Manager",
                country="US",
                language="en",
            ),
            Person(
                "grace.kim@globex.example",
                "Grace Kim",
                MEMBER,
                "Finance",
                "Billing Specialist",
                manager="olivia.brooks@globex.example",
                country="US",
                language="en",
            ),
            Person(
                "tyler.evans@globex.example",
                "Tyler Evans",
                MEMBER,
                "Engineering",
                "Backend Developer",
                manager="marcus.reed@globex.example",
                country="CA",
                language="en",
            ),
            Person(
                "ava.martinez@globex.example",
                "Ava Martinez",
                MEMBER,
                "Customer Support",
                "Support Lead",
                country="US",
                language="en",
            ),
        ),
    ),
    TenantSpec(
        slug="initech",
        name="Initech",
        tier="strategic",
        region="apac",
        data_residency="apac",
        time_zone="Asia/Singapore",
        contracts=(ContractSpec("INI-ENT-2024", date(2024, 7, 1), date(2028, 6, 30), 4),),
        environments=(
            Env(
                "core-banking",
                "Core Banking Ledger",
                "application",
                "restricted",
                "apac",
                on_premises=True,
                owner="siti.rahman@initech.example",
                description="Mainframe ledger in the Singapore data centre.",
            ),
            Env(
                "risk-analytics",
                "Risk Analytics",
                "dataset",
                "restricted",
                "apac",
                owner="siti.rahman@initech.example",
            ),
            Env("kyc-records", "KYC Records", "dataset", "restricted", "apac"),
            Env("trading-desk", "Trading Desk Workspace", "workspace", "confidential", "apac"),
            Env("tps-reports", "TPS Reporting", "application", "internal", "apac"),
            Env("hr-portal", "HR Portal", "application", "confidential", "apac"),
        ),
        people=(
            Person(
                "weiling.tan@initech.example",
                "Wei Ling Tan",
                ADMIN,
                "Information Security",
                "Chief Information Security Officer",
                country="SG",
                language="en",
                featured="Customer admin",
            ),
            Person(
                "rajesh.kumar@initech.example",
                "Rajesh Kumar",
                DELEGATED,
                "Information Security",
                "IAM Lead",
                manager="weiling.tan@initech.example",
                country="SG",
                language="en",
            ),
            Person(
                "siti.rahman@initech.example",
                "Siti Rahman",
                APPROVER,
                "Risk",
                "Head of Risk",
                country="MY",
                language="en",
            ),
            Person(
                "daniel.lim@initech.example",
                "Daniel Lim",
                REVIEWER,
                "Internal Audit",
                "Audit Manager",
                country="SG",
                language="en",
            ),
            Person(
                "arjun.mehta@initech.example",
                "Arjun Mehta",
                MEMBER,
                "Risk",
                "Risk Analyst",
                manager="siti.rahman@initech.example",
                country="SG",
                language="en",
            ),
            Person(
                "joanna.lee@initech.example",
                "Joanna Lee",
                MEMBER,
                "Operations",
                "Operations Analyst",
                country="SG",
                language="en",
            ),
            Person(
                "peter.gibbons@initech.example",
                "Peter Gibbons",
                MEMBER,
                "Engineering",
                "Software Engineer",
                country="SG",
                language="en",
            ),
        ),
    ),
    TenantSpec(
        slug="soylent",
        name="Soylent Foods",
        tier="standard",
        region="eu",
        data_residency="eu",
        time_zone="Europe/Paris",
        contracts=(ContractSpec("SOY-2025-07", date(2025, 7, 1), date(2026, 12, 31), 24),),
        environments=(
            Env(
                "erp",
                "ERP",
                "application",
                "confidential",
                "eu",
                owner="isabelle.roux@soylent.example",
            ),
            Env("supply-chain", "Supply Chain Planning", "application", "internal", "eu"),
            Env(
                "quality-data",
                "Quality Control Data",
                "dataset",
                "confidential",
                "eu",
                owner="thomas.girard@soylent.example",
            ),
            Env("intranet", "Intranet", "workspace", "internal", "eu"),
        ),
        people=(
            Person(
                "isabelle.roux@soylent.example",
                "Isabelle Roux",
                ADMIN,
                "Informatique",
                "Directrice des systèmes d'information",
                country="FR",
                language="fr",
            ),
            Person(
                "thomas.girard@soylent.example",
                "Thomas Girard",
                APPROVER,
                "Production",
                "Directeur de production",
                country="FR",
                language="fr",
            ),
            Person(
                "nicolas.faure@soylent.example",
                "Nicolas Faure",
                REVIEWER,
                "Finance",
                "Contrôleur de gestion",
                country="FR",
                language="fr",
            ),
            Person(
                "manon.lambert@soylent.example",
                "Manon Lambert",
                MEMBER,
                "Qualité",
                "Technicienne qualité",
                manager="thomas.girard@soylent.example",
                country="FR",
                language="fr",
            ),
        ),
    ),
    TenantSpec(
        slug="umbrella",
        name="Umbrella Pharmaceuticals",
        tier="enterprise",
        region="uk",
        data_residency="uk",
        time_zone="Europe/London",
        status="suspended",
        status_reason="Contract under review: invoices overdue for more than 60 days.",
        contracts=(ContractSpec("UMB-2023-11", date(2023, 11, 1), date(2026, 10, 31), 8),),
        environments=(
            Env("clinical-trials", "Clinical Trials Database", "dataset", "restricted", "uk"),
            Env(
                "lims",
                "Laboratory Information System",
                "application",
                "restricted",
                "uk",
                on_premises=True,
            ),
            Env("regulatory-docs", "Regulatory Submissions", "workspace", "confidential", "uk"),
            Env("corporate-wiki", "Corporate Wiki", "application", "internal", "uk"),
        ),
        people=(
            Person(
                "oliver.hughes@umbrella.example",
                "Oliver Hughes",
                ADMIN,
                "IT",
                "IT Service Manager",
                country="GB",
                language="en",
            ),
            Person(
                "amelia.clarke@umbrella.example",
                "Amelia Clarke",
                APPROVER,
                "Clinical Operations",
                "Head of Clinical Operations",
                country="GB",
                language="en",
            ),
            Person(
                "harry.wilson@umbrella.example",
                "Harry Wilson",
                MEMBER,
                "Clinical Operations",
                "Clinical Data Manager",
                manager="amelia.clarke@umbrella.example",
                country="GB",
                language="en",
            ),
        ),
    ),
    TenantSpec(
        slug="hooli",
        name="Hooli",
        tier="strategic",
        region="us",
        data_residency="us",
        time_zone="America/Los_Angeles",
        status="isolated",
        status_reason="Incident INC-2026-0142: suspected credential compromise; tenant isolated "
        "while the investigation runs.",
        contracts=(ContractSpec("HOOLI-MSA-2022", date(2022, 5, 1), date(2027, 4, 30), 4),),
        environments=(
            Env("search-index", "Search Index", "dataset", "confidential", "us"),
            Env("ads-platform", "Ads Platform", "application", "restricted", "us"),
            Env("people-ops", "People Ops", "application", "restricted", "us"),
            Env("analytics-workspace", "Analytics Workspace", "workspace", "internal", "us"),
            Env(
                "build-farm",
                "Build Farm",
                "application",
                "confidential",
                "us",
                on_premises=True,
            ),
        ),
        people=(
            Person(
                "monica.hall@hooli.example",
                "Monica Hall",
                ADMIN,
                "Security",
                "Security Engineering Manager",
                country="US",
                language="en",
            ),
            Person(
                "jared.dunn@hooli.example",
                "Jared Dunn",
                APPROVER,
                "Operations",
                "Head of Operations",
                country="US",
                language="en",
            ),
            Person(
                "dinesh.chugtai@hooli.example",
                "Dinesh Chugtai",
                MEMBER,
                "Engineering",
                "Software Engineer",
                manager="jared.dunn@hooli.example",
                country="US",
                language="en",
            ),
        ),
    ),
    TenantSpec(
        slug="vandelay",
        name="Vandelay Industries",
        tier="standard",
        region="us",
        data_residency="",
        time_zone="America/New_York",
        status="terminated",
        status_reason="Contract VAN-2024-02 ended on 2026-06-30.",
        contracts=(ContractSpec("VAN-2024-02", date(2024, 2, 1), date(2026, 6, 30), 24),),
        environments=(
            Env(
                "import-export-ledger", "Import/Export Ledger", "application", "confidential", "us"
            ),
            Env("product-catalog", "Product Catalog", "dataset", "internal", "us"),
            Env("shared-drive", "Shared Drive", "workspace", "internal", "us"),
            Env("website", "Public Website", "application", "public", "global"),
        ),
        people=(
            Person(
                "kel.varnsen@vandelay.example",
                "Kel Varnsen",
                ADMIN,
                "Operations",
                "Operations Director",
                country="US",
                language="en",
            ),
            Person(
                "art.vandelay@vandelay.example",
                "Art Vandelay",
                MEMBER,
                "Sales",
                "Import/Export Manager",
                manager="kel.varnsen@vandelay.example",
                country="US",
                language="en",
            ),
        ),
    ),
)

STAFF: tuple[StaffSpec, ...] = (
    StaffSpec(
        "priya.nair@custos.example",
        "Priya Nair",
        "support_engineer",
        "IN",
        "en",
        "Asia/Kolkata",
        featured="Support engineer",
    ),
    StaffSpec(
        "tom.becker@custos.example",
        "Tom Becker",
        "support_engineer",
        "DE",
        "de",
        "Europe/Berlin",
        featured="Support engineer (EU)",
    ),
    StaffSpec(
        "lucie.moreau@custos.example",
        "Lucie Moreau",
        "support_engineer",
        "FR",
        "fr",
        "Europe/Paris",
    ),
    StaffSpec(
        "daniel.okafor@custos.example",
        "Daniel Okafor",
        "support_manager",
        "GB",
        "en",
        "Europe/London",
        featured="Support manager",
    ),
    StaffSpec(
        "kenji.tanaka@custos.example",
        "Kenji Tanaka",
        "devops",
        "SG",
        "en",
        "Asia/Singapore",
        featured="DevOps engineer",
    ),
    StaffSpec(
        "ingrid.larsen@custos.example",
        "Ingrid Larsen",
        "internal_reviewer",
        "SE",
        "en",
        "Europe/Stockholm",
        featured="Internal reviewer",
    ),
    StaffSpec(
        "omar.haddad@custos.example",
        "Omar Haddad",
        "security",
        "US",
        "en",
        "America/New_York",
        featured="Security analyst",
    ),
    StaffSpec(
        "helena.brandt@custos.example",
        "Helena Brandt",
        "compliance",
        "DE",
        "de",
        "Europe/Berlin",
        featured="Compliance officer",
    ),
)

OPERATOR = StaffSpec(
    "operator@custos.example",
    "Olga Petrova",
    "",
    "DE",
    "en",
    "Europe/Berlin",
    featured="Operator (Django admin)",
)
