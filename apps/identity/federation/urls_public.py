"""Per-tenant federation endpoints (SAML metadata/ACS/SLS, OIDC start/callback, home-realm
discovery), mounted at /federation/ — stable URLs documented in docs/federation.md."""

from django.urls import path

from apps.identity.federation import views_public as v

app_name = "federation_public"
urlpatterns = [
    path("discover/", v.discover, name="discover"),
    path("saml/<slug:org>/metadata/", v.saml_metadata, name="saml_metadata"),
    path("saml/<slug:org>/login/", v.saml_login, name="saml_login"),
    path("saml/<slug:org>/acs/", v.saml_acs, name="saml_acs"),
    path("saml/<slug:org>/sls/", v.saml_sls, name="saml_sls"),
    path("oidc/<slug:org>/login/", v.oidc_login, name="oidc_login"),
    path("oidc/<slug:org>/callback/", v.oidc_callback, name="oidc_callback"),
]
