"""Pydantic models for the usage-list envelope and its items.

Records keep every field the API sent, known or not, and remember the exact
decoded JSON object so json/jsonl output can pass it through untouched.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from usage_cli.errors import ApiError, AuthError, ServerError

# The API's relation ids, in the order of the contract's filter list.
RELATIONS: tuple[str, ...] = (
    "conversationId",
    "messageId",
    "taskId",
    "contactId",
    "blueprintId",
    "botId",
    "datasetId",
    "skillsetId",
    "abilityId",
)


class UsageRecord(BaseModel):
    """One immutable usage record. Unknown fields are kept (`model_extra`)."""

    model_config = ConfigDict(
        extra="allow", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    id: str
    type: str
    count: int
    conversation_id: str | None = None
    message_id: str | None = None
    task_id: str | None = None
    contact_id: str | None = None
    blueprint_id: str | None = None
    bot_id: str | None = None
    dataset_id: str | None = None
    skillset_id: str | None = None
    ability_id: str | None = None
    name: str | None = None
    description: str | None = None
    meta: dict[str, Any] | None = None
    created_at: int = Field(description="epoch milliseconds")
    updated_at: int | None = Field(default=None, description="epoch milliseconds")

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: ModelWrapValidatorHandler[UsageRecord]) -> UsageRecord:
        record = handler(data)
        if isinstance(data, dict):
            record._raw = data
        return record

    @property
    def raw(self) -> dict[str, Any]:
        """The record exactly as the API sent it (decoded JSON)."""
        return self._raw or self.model_dump(by_alias=True, exclude_unset=True)

    def field(self, api_name: str) -> Any:
        """A top-level field by its API name (`botId`, `createdAt`, or an unknown one)."""
        return self.raw.get(api_name)


class Page(BaseModel):
    """One page of the list: records and the cursor to the next page, if any."""

    model_config = ConfigDict(extra="allow", frozen=True)

    items: list[UsageRecord]
    cursor: str | None = None


def _snippet(text: str, limit: int = 120) -> str:
    """A short, single-line, printable excerpt of a body we cannot use."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_page(body: bytes, *, status: int = 200) -> Page:
    """Decode a 200 response body into a Page, or raise the error it carries."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ServerError(
            f"the API answered HTTP {status} with a body that is not JSON: "
            f"{_snippet(body.decode('utf-8', 'replace'))!r}",
            hint="a proxy or gateway may be in the way; check --api-url",
        ) from None
    if isinstance(data, dict) and "items" not in data and "message" in data:
        # The platform can commit a 200 and then report an error in the body.
        message = str(data.get("message"))
        code = str(data.get("code") or "")
        if code == "NOT_AUTHENTICATED":
            raise AuthError(message)
        raise ServerError(f"the API reported an error: {message} ({code or 'no code'})")
    try:
        return Page.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ServerError(
            f"malformed response from the API: {where}: {first['msg']}"
            + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
        ) from None


def error_from_response(status: int, body: bytes) -> AuthError | ApiError | ServerError:
    """The exception for a non-2xx response, with the API's message when it sent one."""
    message: str | None = None
    code: str | None = None
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "message" in data:
            message = str(data["message"])
            code = str(data["code"]) if data.get("code") is not None else None
    except ValueError:
        pass
    if message is None:
        text = _snippet(body.decode("utf-8", "replace")) if body else ""
        message = f"HTTP {status}" + (f": {text!r}" if text else " with an empty body")
    else:
        message = f"{message} (HTTP {status}{', ' + code if code else ''})"
    if status in (401, 403):
        return AuthError(
            f"the API refused the token: {message}",
            hint="check CHATBOTKIT_API_TOKEN (or --token) and, if set, --run-as",
        )
    if status == 429:
        # Still limited after every retry: a transient condition, not a rejection.
        return ServerError(
            f"the API is rate-limiting these requests: {message}",
            hint="wait a minute and run again, or allow more --retries",
        )
    if 400 <= status < 500:
        return ApiError(f"the API rejected the request: {message}", status=status, code=code)
    return ServerError(f"the API failed: {message}")
