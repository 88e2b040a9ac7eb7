"""The audit log's "Older" link pages by keyset (no OFFSET over big tables) and shows exactly
the events the page-number view would."""

import re

import pytest

from apps.core.audit.services import audit_event_record


def _seqs(body: str) -> list[str]:
    return re.findall(r"<tr>\s*<td>(\d+)</td>", body)


@pytest.mark.django_db
def test_older_link_continues_where_the_page_ended(client_for, admin_a, tenant_a):
    for i in range(120):
        audit_event_record(action="bulk.item", actor=admin_a, tenant=tenant_a, details={"i": i})
    client = client_for(admin_a)
    first = client.get("/t/acme/audit/", {"action": "bulk."}).content.decode()
    link = re.search(r'href="(\?action=bulk\.&amp;page=2&amp;after=[0-9.]+)"', first)
    assert link, "the Older link carries a cursor"
    by_cursor = client.get("/t/acme/audit/" + link.group(1).replace("&amp;", "&")).content.decode()
    by_offset = client.get("/t/acme/audit/", {"action": "bulk.", "page": "2"}).content.decode()
    assert _seqs(by_cursor) == _seqs(by_offset)
    assert len(_seqs(by_cursor)) == 50
    assert not set(_seqs(by_cursor)) & set(_seqs(first))
    third = re.search(r'href="(\?action=bulk\.&amp;page=3&amp;after=[0-9.]+)"', by_cursor)
    assert third
    last = client.get("/t/acme/audit/" + third.group(1).replace("&amp;", "&")).content.decode()
    assert len(_seqs(last)) == 20
    assert 'rel="next"' not in last
    assert "page=2" in last  # "Newer"


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", ["nonsense", "1.2.3", "99999999999999999999.1", "-5.3", ""])
def test_a_bad_cursor_falls_back_to_the_page_number(client_for, admin_a, cursor):
    response = client_for(admin_a).get("/t/acme/audit/", {"page": "1", "after": cursor})
    assert response.status_code == 200
    assert "membership.added" in response.content.decode()
