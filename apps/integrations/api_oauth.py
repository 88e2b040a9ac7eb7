"""POST /api/v1/oauth/token — OAuth2 client credentials with private_key_jwt (RFC 7523).

Answers in the OAuth formats (RFC 6749 sections 5.1 and 5.2), not the API's error shape, so
standard OAuth client libraries understand them.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from ninja import Form, Router, Schema

from apps.core.middleware import client_ip
from apps.integrations.errors import OAuthError
from apps.integrations.services.oauth import oauth_token_issue, token_endpoint_url

router = Router(tags=["oauth2"])


class TokenForm(Schema):
    grant_type: str | None = None
    client_assertion_type: str | None = None
    client_assertion: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenOut(Schema):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class OAuthErrorOut(Schema):
    error: str
    error_description: str


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


@router.post(
    "/oauth/token",
    auth=None,
    response={200: TokenOut, 400: OAuthErrorOut, 401: OAuthErrorOut},
    summary="Get an access token (client credentials, private_key_jwt)",
)
def oauth_token(request: HttpRequest, data: Form[TokenForm]) -> JsonResponse:
    """Form-encoded: `grant_type=client_credentials`,
    `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
    `client_assertion=<JWT signed with the client's private key>` and optionally
    `scope=<space-separated scopes>`. The JWT: `iss` = `sub` = client_id, `aud` = this URL,
    `exp` at most 5 minutes ahead, a unique `jti`; alg RS256, ES256 or EdDSA."""
    request.sensitive_post_parameters = ["client_assertion", "client_secret"]  # type: ignore[attr-defined]
    form = {k: v for k, v in data.dict().items() if isinstance(v, str)}
    try:
        body = oauth_token_issue(
            form=form, audience=token_endpoint_url(request), ip=client_ip(request)
        )
    except OAuthError as exc:
        return _no_store(
            JsonResponse(
                {"error": exc.error, "error_description": exc.description}, status=exc.status
            )
        )
    return _no_store(JsonResponse(body))
