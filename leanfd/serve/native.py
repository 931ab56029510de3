"""leanfd's own endpoints: records in, full verdicts out.

`POST /v1/check` takes `{"records": [R, ...], "timeout": seconds?}`, each R a record as `leanfd check`
reads it from JSONL (`{name, header, formal_statement, proof}` or `{..., code}`, other fields kept),
and answers `{"verdicts": [V, ...]}` in input order, V = `Verdict.to_dict()` (which names the
record). `POST /v1/check/stream` takes the same body and answers NDJSON, one line
`{"index": i, "verdict": V}` per record as its check finishes.
"""

from __future__ import annotations

import json
from typing import Any

from leanfd.lean.errors import RecordError
from leanfd.lean.records import CheckRecord, Verdict
from leanfd.serve.shapes import a_list, a_timeout, an_object, bad, only

FIELDS = ("records", "timeout")


def parse_records(body: Any) -> tuple[list[CheckRecord], float | None]:
    """The records of a `/v1/check` body and its timeout; a bad record refuses the request, naming it."""
    obj = an_object(body, '{"records": [...], "timeout"}')
    only(obj, FIELDS)
    raw = a_list(obj, "records", "records {name, header, formal_statement, proof | code}")
    records = []
    for i, r in enumerate(raw):
        try:
            records.append(CheckRecord.from_dict(r))
        except RecordError as e:
            raise bad(f"records[{i}]: {e}") from None
    return records, a_timeout(obj)


def verdict_json(v: Verdict) -> dict[str, Any]:
    return v.to_dict()


def stream_line(index: int, v: Verdict) -> bytes:
    """One NDJSON line, in ASCII: a U+2028 or U+0085 written as it is would end the line for readers that
    split lines as Python's `str.splitlines` does (httpx's `iter_lines` among them)."""
    return (json.dumps({"index": index, "verdict": verdict_json(v)}) + "\n").encode("ascii")
