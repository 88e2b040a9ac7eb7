"""Custos speaks English, German and French: every catalogue entry is translated, placeholders
survive translation, and the portal really renders in the reader's language."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
LANGUAGES = ("de", "fr")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]|\{\w*\}")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    line: int = 0


def parse_po(path: Path) -> list[Entry]:
    """A small, strict reader of gettext catalogues (the subset makemessages writes)."""
    entries: list[Entry] = []
    entry = Entry()
    keyword = ""

    def flush() -> None:
        nonlocal entry, keyword
        if entry.msgid or entry.msgstr:
            entries.append(entry)
        entry, keyword = Entry(), ""

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("#~"):
            entry.obsolete = True
        elif line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        else:
            if line.startswith('"'):  # continuation of the previous keyword's string
                assert keyword, f"{path}:{number}: continuation without a keyword"
                text = line
            else:
                keyword, _, text = line.partition(" ")
                entry.line = entry.line or number
            value = ast.literal_eval(text)
            if keyword == "msgid":
                entry.msgid += value
            elif keyword == "msgid_plural":
                entry.msgid_plural += value
            elif keyword == "msgstr":
                entry.msgstr[0] = entry.msgstr.get(0, "") + value
            elif keyword.startswith("msgstr["):
                index = int(keyword[7:-1])
                entry.msgstr[index] = entry.msgstr.get(index, "") + value
            elif keyword != "msgctxt":
                raise AssertionError(f"{path}:{number}: unexpected line {raw!r}")
    flush()
    return entries


def catalogue(language: str) -> tuple[Entry, list[Entry]]:
    """The project catalogue (locale/) plus every app's own (apps/**/locale/), as Django merges
    them at run time; the header is the project catalogue's."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "django.po"
    assert path.is_file(), f"{path} is missing: run makemessages -l {language}"
    entries = [e for e in parse_po(path) if not e.obsolete]
    header = next(e for e in entries if e.msgid == "")
    for app_po in sorted(
        Path(settings.BASE_DIR).glob(f"apps/**/locale/{language}/LC_MESSAGES/django.po")
    ):
        entries += [e for e in parse_po(app_po) if not e.obsolete]
    return header, [e for e in entries if e.msgid]


def placeholders(text: str) -> list[str]:
    return sorted(match.group(0) for match in PLACEHOLDER.finditer(text))


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_header_declares_language_and_plurals(language):
    header, entries = catalogue(language)
    meta = header.msgstr[0]
    assert f"Language: {language}" in meta
    assert "charset=UTF-8" in meta
    assert "Plural-Forms: nplurals=2;" in meta
    assert "fuzzy" not in header.flags, "a fuzzy header is ignored by msgfmt"
    assert len(entries) > 100


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_not_fuzzy(language):
    _header, entries = catalogue(language)
    untranslated = [
        f"line {e.line}: {e.msgid!r}"
        for e in entries
        if not e.msgstr or any(not value.strip() for value in e.msgstr.values())
    ]
    fuzzy = [f"line {e.line}: {e.msgid!r}" for e in entries if "fuzzy" in e.flags]
    assert not untranslated, f"untranslated in {language}:\n" + "\n".join(untranslated)
    assert not fuzzy, f"fuzzy in {language}:\n" + "\n".join(fuzzy)


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_survive_translation(language):
    _header, entries = catalogue(language)
    broken = []
    for e in entries:
        if e.msgid_plural:
            expected = [placeholders(e.msgid), placeholders(e.msgid_plural)]
            if len(e.msgstr) != 2:
                broken.append(f"{e.msgid!r}: {len(e.msgstr)} plural forms")
            for index, value in e.msgstr.items():
                if placeholders(value) not in expected:
                    broken.append(f"{e.msgid!r} [{index}] -> {value!r}")
        elif placeholders(e.msgstr[0]) != placeholders(e.msgid):
            broken.append(f"{e.msgid!r} -> {e.msgstr[0]!r}")
    assert not broken, f"placeholders differ in {language}:\n" + "\n".join(broken)


def test_german_and_french_catalogues_cover_the_same_messages():
    _h, german = catalogue("de")
    _h, french = catalogue("fr")
    assert {e.msgid for e in german} == {e.msgid for e in french}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("how", "value", "lang", "heading", "nav_label"),
    [
        ("accept", "de-DE,de;q=0.9", "de", "ACME Corp \u2013 Übersicht", "Umgebungen"),
        ("accept", "fr-FR,fr;q=0.9", "fr", "ACME Corp \u2013 tableau de bord", "Environnements"),
        ("cookie", "de", "de", "ACME Corp \u2013 Übersicht", "Mitglieder"),
        ("cookie", "fr", "fr", "ACME Corp \u2013 tableau de bord", "Membres"),
        ("accept", "en-GB,en;q=0.9", "en", "ACME Corp — dashboard", "Environments"),
    ],
)
def test_dashboard_renders_in_the_readers_language(
    client_for, admin_a, how, value, lang, heading, nav_label
):
    client = client_for(admin_a)
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = value
        response = client.get("/t/acme/")
    else:
        response = client.get("/t/acme/", headers={"accept-language": value})
    body = response.content.decode()
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in body
    assert heading in body
    assert nav_label in body


@pytest.mark.django_db
def test_the_staff_console_translates_tenant_statuses(client_for, compliance_officer, tenant_a):
    client = client_for(compliance_officer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    body = client.get("/staff/").content.decode()
    assert "Mitarbeiterkonsole" in body
    assert "Mandanten nach Status" in body
    assert ">Aktiv<" in body
    assert "Compliance-Beauftragter" in body
