"""SCIM errors (RFC 7644 §3.12): raised anywhere under the SCIM endpoints, rendered by the view
layer as `urn:ietf:params:scim:api:messages:2.0:Error` JSON with the HTTP status."""

from __future__ import annotations

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        scim_type: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body
