"""Reading and writing documents: JSON read with exact decimals, format tags, pydantic errors turned
into one-line zkmargin errors naming the file and the field, timestamps, canonical dumps and atomic
writes.

May import :mod:`.fields`, :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.files` and
:mod:`zkmargin.errors`. Used by the policy, market and account modules and the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ValidationError,
)

from ...errors import (
    FormatError,
    ZkMarginError,
)
from ...files.inputs import display_name, kind_of_format
from ..decimals import load_json_file
from .fields import _Tagged

#: What a reader takes: a path, JSON bytes or an already parsed JSON object.
DocumentSource = str | os.PathLike[str] | bytes | dict[str, Any]

_Model = TypeVar("_Model", bound=BaseModel)


def _path(loc: Iterable[int | str]) -> str | None:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = str(part)
            # pydantic adds the union/validator tag names to some locations; drop them.
            if part.startswith("function-"):
                continue
            out += ("." if out else "") + part
    return out or None


def _convert(err: ValidationError, source: str | None) -> ZkMarginError:
    e = err.errors(include_url=False)[0]
    field = _path(e.get("loc", ()))
    typ = e.get("type")
    ctx = e.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, _Tagged):
        return inner.cls(inner.message, source=source, field=field)
    if typ == "missing":
        return FormatError("missing field", source=source, field=field)
    if typ == "extra_forbidden":
        return FormatError("unknown field", source=source, field=field)
    if typ == "literal_error":
        return FormatError(f"must be {ctx.get('expected', 'one of the allowed values')}",
                           source=source, field=field)
    msg = e.get("msg", "invalid value")
    return FormatError(msg[0].lower() + msg[1:] if msg else "invalid value", source=source,
                       field=field)


def _read(src: DocumentSource, expected_format: str,
          source: str | None) -> tuple[dict[str, Any], str | None]:
    kind = kind_of_format(expected_format)  # the input layer's size cap for this kind
    if isinstance(src, (str, os.PathLike)):
        source = source or display_name(src)
        data = load_json_file(src, kind)
    elif isinstance(src, bytes):
        from ..decimals import loads_json

        data = loads_json(src, source=source, kind=kind)
    elif isinstance(src, dict):
        data = src
    else:
        raise FormatError(f"expected a path or a dict, got {type(src).__name__}", source=source)
    if not isinstance(data, dict):
        raise FormatError("the document is not a JSON object", source=source)
    check_format_tag(data, expected_format, source)
    return data, source


def check_format_tag(data: dict[str, Any], expected_format: str, source: str | None = None) -> None:
    """A document's ``format`` tag is exactly ``expected_format`` (one-line FormatError)."""
    fmt = data.get("format")
    if fmt is None:
        raise FormatError(f"missing format tag (expected {expected_format!r})", source=source,
                          field="format")
    if fmt != expected_format:
        shown = fmt if isinstance(fmt, str) else type(fmt).__name__
        raise FormatError(f"expected format {expected_format!r}, got {shown!r}", source=source,
                          field="format")


def _build(cls: type[_Model], data: dict[str, Any], source: str | None) -> _Model:
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise _convert(e, source) from None


def _iso8601(text: str, *, field: str, source: str | None,
             cls: type[ZkMarginError] = FormatError) -> str:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise cls(f"{text!r} is not an ISO 8601 timestamp", source=source, field=field) from None
    if t.tzinfo is None:
        raise cls("the timestamp needs a time zone (e.g. 'Z' or '+00:00')", source=source,
                  field=field)
    t = t.astimezone(UTC)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += f".{t.microsecond:06d}".rstrip("0")
    return s + "Z"


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp with time zone as an aware UTC datetime."""
    t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        raise FormatError("the timestamp needs a time zone")
    return t.astimezone(UTC)


def dump_document(model: BaseModel) -> dict[str, Any]:
    """A model as a JSON-ready dict: decimals as canonical strings, no null fields."""
    from ..decimals import canonical

    def walk(x: Any) -> Any:
        if isinstance(x, Decimal):
            return canonical(x)
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return x

    out: dict[str, Any] = walk(model.model_dump(mode="python", exclude_none=True))
    return out


def write_document(doc: BaseModel | dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a model (via :func:`dump_document`) or a JSON-ready dict to ``path`` atomically: a
    temporary file in the same folder, flushed and fsynced, then ``os.replace``. Decimals are
    written as canonical strings; a reader never sees a half-written file."""
    import json

    from ...files.atomic import write_atomic
    from ..decimals import canonical

    if isinstance(doc, BaseModel):
        doc = dump_document(doc)

    def default(x: object) -> str:
        if isinstance(x, Decimal):
            return canonical(x)
        raise TypeError(f"cannot write {type(x).__name__}")

    text = json.dumps(doc, indent=2, ensure_ascii=False, default=default, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
