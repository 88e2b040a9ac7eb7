"""python3-saml needs xmlsec and lxml built against the same libxml2 (ENVIRONMENT.md): a
mismatch fails signature checks in confusing ways, so it is asserted here."""

import lxml.etree
import xmlsec


def test_xmlsec_and_lxml_share_libxml2() -> None:
    assert xmlsec.get_libxml_version() == lxml.etree.LIBXML_VERSION
