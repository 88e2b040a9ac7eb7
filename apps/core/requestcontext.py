"""Who is asking, from where: set once per request (or task) and read by the audit writer."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestInfo:
    request_id: str = ""
    ip: str = ""
    user_agent: str = ""


_info: ContextVar[RequestInfo] = ContextVar(
    "custos_request_info",
    default=RequestInfo(),  # noqa: B039 (frozen dataclass)
)


def current_request_info() -> RequestInfo:
    return _info.get()


def set_request_info(info: RequestInfo) -> object:
    return _info.set(info)


def reset_request_info(token: object) -> None:
    _info.reset(token)  # type: ignore[arg-type]
