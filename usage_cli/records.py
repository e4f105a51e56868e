"""The usage-list envelope and its records, validated by pydantic a page at a time.

A page is validated in one call (pydantic-core's `validate_json`: parsing and
checking in Rust), strictly, so nothing the API sent is coerced into something
it did not send. Each record keeps every field, known or not, in `raw`, which
json/jsonl output writes back out unchanged. `UsageRecord` is a thin, typed
view over that dict: building a full model per record would cost more than
everything else the export does.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, NotRequired

from pydantic_core import SchemaValidator, ValidationError
from pydantic_core.core_schema import CoreConfig, CoreSchema
from typing_extensions import TypedDict

from usage_cli._text import mended
from usage_cli.errors import ApiError, AuthError, ReportedError, SchemaError, ServerError
from usage_cli.relations import ID_FIELDS


class RecordSchema(TypedDict):
    """One record as the API documents it; unknown fields are allowed and kept.

    Fields are declared in the platform's own order, which validated dicts
    follow (unknown fields come last).
    """

    id: str
    type: str
    count: int
    conversationId: NotRequired[str | None]
    messageId: NotRequired[str | None]
    taskId: NotRequired[str | None]
    contactId: NotRequired[str | None]
    blueprintId: NotRequired[str | None]
    botId: NotRequired[str | None]
    datasetId: NotRequired[str | None]
    skillsetId: NotRequired[str | None]
    abilityId: NotRequired[str | None]
    name: NotRequired[str | None]
    description: NotRequired[str | None]
    meta: NotRequired[dict[str, Any] | None]
    createdAt: int
    updatedAt: NotRequired[int | None]


class PageSchema(TypedDict):
    items: list[RecordSchema]
    cursor: NotRequired[str | None]


# What `pydantic.with_config` would set: `TypeAdapter(PageSchema)` validates as
# `_PAGE` does (tests/test_records.py holds the two schemas equal).
RecordSchema.__pydantic_config__ = {"extra": "allow", "strict": True}  # type: ignore[attr-defined]
PageSchema.__pydantic_config__ = {"extra": "allow", "strict": True}  # type: ignore[attr-defined]
_CONFIG: CoreConfig = {"extra_fields_behavior": "allow", "strict": True}


def _typed_dict(title: str, fields: dict[str, tuple[CoreSchema, bool]]) -> CoreSchema:
    """The core schema pydantic builds for a TypedDict under `_CONFIG`.

    Written out rather than generated: building it with `TypeAdapter` means
    importing pydantic itself, which cost more start-up than all the rest of
    an export's imports but httpx.
    """
    return {
        "type": "typed-dict",
        "fields": {
            name: {"type": "typed-dict-field", "schema": schema, "required": required}
            for name, (schema, required) in fields.items()
        },
        "computed_fields": [],
        "extra_behavior": "allow",
        "config": {**_CONFIG, "title": title},
    }


def _nullable(schema: CoreSchema) -> CoreSchema:
    return {"type": "nullable", "schema": schema}


_STR: CoreSchema = {"type": "str"}
_INT: CoreSchema = {"type": "int"}
_ANY_DICT: CoreSchema = {"type": "dict", "keys_schema": _STR, "values_schema": {"type": "any"}}
RECORD_SCHEMA = _typed_dict(
    "RecordSchema",
    {
        "id": (_STR, True),
        "type": (_STR, True),
        "count": (_INT, True),
        **{name: (_nullable(_STR), False) for name in (*ID_FIELDS, "name", "description")},
        "meta": (_nullable(_ANY_DICT), False),
        "createdAt": (_INT, True),
        "updatedAt": (_nullable(_INT), False),
    },
)
PAGE_SCHEMA = _typed_dict(
    "PageSchema",
    {
        "items": ({"type": "list", "items_schema": RECORD_SCHEMA}, True),
        "cursor": (_nullable(_STR), False),
    },
)
_RECORD = SchemaValidator(RECORD_SCHEMA, {**_CONFIG, "title": "RecordSchema"})
_PAGE = SchemaValidator(PAGE_SCHEMA, {**_CONFIG, "title": "PageSchema"})
_KNOWN = frozenset(RecordSchema.__annotations__)


class UsageRecord:
    """One immutable usage record: typed attributes over the fields the API sent."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw  # exactly the decoded JSON object, unknown fields included

    @classmethod
    def model_validate(cls, data: Any) -> UsageRecord:
        """Validate one record (a dict as decoded from JSON)."""
        return cls(_RECORD.validate_python(data))

    def __repr__(self) -> str:
        return f"UsageRecord(id={self.id!r}, type={self.type!r}, count={self.count!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UsageRecord) and other.raw == self.raw

    __hash__ = None  # type: ignore[assignment]  # a mutable dict inside: not hashable

    id = property(lambda self: self.raw["id"], doc="the record id")
    type = property(lambda self: self.raw["type"], doc="the usage type")
    count = property(lambda self: self.raw["count"], doc="units consumed")
    created_at = property(lambda self: self.raw["createdAt"], doc="epoch milliseconds")
    updated_at = property(lambda self: self.raw.get("updatedAt"), doc="epoch milliseconds")
    name = property(lambda self: self.raw.get("name"))
    description = property(lambda self: self.raw.get("description"))
    meta = property(lambda self: self.raw.get("meta"))
    conversation_id = property(lambda self: self.raw.get("conversationId"))
    message_id = property(lambda self: self.raw.get("messageId"))
    task_id = property(lambda self: self.raw.get("taskId"))
    contact_id = property(lambda self: self.raw.get("contactId"))
    blueprint_id = property(lambda self: self.raw.get("blueprintId"))
    bot_id = property(lambda self: self.raw.get("botId"))
    dataset_id = property(lambda self: self.raw.get("datasetId"))
    skillset_id = property(lambda self: self.raw.get("skillsetId"))
    ability_id = property(lambda self: self.raw.get("abilityId"))

    @property
    def extra(self) -> dict[str, Any]:
        """Fields the API sent that this version does not know."""
        return {key: value for key, value in self.raw.items() if key not in _KNOWN}

    def field(self, api_name: str) -> Any:
        """A top-level field by its API name (`botId`, `createdAt`, or an unknown one)."""
        return self.raw.get(api_name)


@dataclass(frozen=True)
class Page:
    """One page of the list: records and the cursor to the next page, if any."""

    items: list[UsageRecord]
    cursor: str | None = None
    # Decoded by Python's decoder, as pydantic-core refused the text: its strings
    # may hold a lone surrogate (the only thing the one takes and the other not).
    odd_text: bool = False

    @classmethod
    def model_validate(cls, data: Any) -> Page:
        """A page from decoded JSON (for tests and library callers)."""
        return _page(_PAGE.validate_python(data), odd_text=True)


def mended_records(records: list[UsageRecord]) -> tuple[list[UsageRecord], list[int]]:
    """`records` with each lone surrogate made U+FFFD (`_text.mended`), and how many
    strings that changed in each."""
    counts = []
    items = []
    for record in records:
        raw, changed = mended(record.raw)
        counts.append(changed)
        items.append(UsageRecord(raw) if changed else record)
    return items, counts


def _page(data: PageSchema, *, odd_text: bool = False) -> Page:
    return Page(list(map(UsageRecord, data["items"])), data.get("cursor"), odd_text)  # type: ignore[arg-type]


def _snippet(text: str, limit: int = 120) -> str:
    """A short, single-line, printable excerpt of a body we cannot use."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# A cursor is a record id (a few dozen characters); kilobytes of one would be sent back
# in every request's URL, and are no cursor the platform makes.
MAX_CURSOR = 4096


def parse_page(body: bytes, *, status: int = 200) -> Page:
    """Decode a 200 response body into a Page, or raise the error it carries.

    JSON nested deeper than any page is (Python's own decoder would run out of
    stack) and a cursor of kilobytes are malformed answers, never a crash.
    """
    try:
        page = _parse_page(body, status=status)
    except RecursionError:
        raise SchemaError(
            "malformed response from the API: JSON nested deeper than any page is",
            hint="asking again would get the same answer; rerun with --debug to see the request",
        ) from None
    if page.cursor is not None and len(page.cursor) > MAX_CURSOR:
        raise SchemaError(
            f"malformed response from the API: a cursor of {len(page.cursor):,} characters "
            f"(a cursor is a record id; at most {MAX_CURSOR:,} are taken)",
            hint="asking again would get the same answer; rerun with --debug to see the request",
        )
    return page


def _parse_page(body: bytes, *, status: int) -> Page:
    try:
        return _page(_PAGE.validate_json(body))
    except ValidationError as exc:
        failure = exc
    # Slow path: say precisely what is wrong with the body.
    try:
        data = json.loads(body)
    except ValueError:
        raise ServerError(
            f"the API answered HTTP {status} with a body that is not JSON: "
            f"{_snippet(body.decode('utf-8', 'replace'))!r}",
            hint="a proxy or gateway may be in the way; check --api-url",
        ) from None
    # Python's decoder takes a lone UTF-16 surrogate escape (a cut emoji),
    # which pydantic-core's refuses: such a page is valid, and kept exactly.
    with contextlib.suppress(ValidationError):
        return _page(_PAGE.validate_python(data, strict=True), odd_text=True)
    if isinstance(data, dict) and "items" not in data and "message" in data:
        # The platform can commit a 200 and then report an error in the body.
        message = str(data.get("message"))
        code = str(data.get("code") or "")
        if code == "NOT_AUTHENTICATED":
            raise AuthError(message, refused=True)
        raise ReportedError(f"the API reported an error: {message} ({code or 'no code'})")
    first = failure.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    more = failure.error_count() - 1
    raise SchemaError(
        f"malformed response from the API: {where}: {first['msg']}"
        + (f" (and {more} more)" if more else ""),
        hint="asking again would get the same answer; rerun with --debug to see the request",
    )


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
            refused=True,
        )
    if status == 408:
        # Retried like a 5xx: still timing out after every retry is a server failure.
        return ServerError(f"the API timed out the request: {message}")
    if status == 429:
        # Still limited after every retry: a transient condition, not a rejection.
        return ServerError(
            f"the API is rate-limiting these requests: {message}",
            hint="wait a minute and run again, or allow more --retries",
        )
    if 400 <= status < 500:
        return ApiError(f"the API rejected the request: {message}", status=status, code=code)
    return ServerError(f"the API failed: {message}")
