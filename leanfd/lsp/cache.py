"""What the server remembers between requests, all of it per document version.

- `Documents`: the analysis of each open document (`LeanText`), keyed by uri@version, so that the code
  actions an editor asks for on every cursor move cost a lookup, not a parse.
- `Results`: verified suggestions, keyed by (text before the site, goal, model settings), for the
  version they were found on. Every change of a document drops its entries: a suggestion verified
  against one text says nothing about another (the text after the cursor matters to Lean too).
  Within one version the text before the site decides the goal, so a lookup without the goal (a code
  action, which never runs Lean) goes through that index.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from leanfd.lsp.sites import LeanText
from leanfd.lsp.suggest import Suggestion, merge

MAX_DOCUMENTS = 32  # analyses kept (open editors); the least recently used go first


class Documents:
    def __init__(self, capacity: int = MAX_DOCUMENTS) -> None:
        self._capacity = capacity
        self._docs: OrderedDict[str, tuple[int, LeanText]] = OrderedDict()

    def get(self, uri: str, version: int, text: str) -> LeanText:
        hit = self._docs.get(uri)
        if hit is not None and hit[0] == version and hit[1].text == text:
            self._docs.move_to_end(uri)
            return hit[1]
        doc = LeanText(text)
        self._docs[uri] = (version, doc)
        self._docs.move_to_end(uri)
        while len(self._docs) > self._capacity:
            self._docs.popitem(last=False)
        return doc

    def forget(self, uri: str) -> None:
        self._docs.pop(uri, None)


@dataclass
class _Entries:
    version: int
    results: dict[tuple[str, str, Any], list[Suggestion]] = field(default_factory=dict)  # (site, goal, model)
    goals: dict[tuple[str, Any], str] = field(default_factory=dict)  # (site, model) -> goal
    broken: set[str] = field(default_factory=set)  # sites whose declaration Lean cannot parse


class Results:
    def __init__(self) -> None:
        self._by_uri: dict[str, _Entries] = {}

    def _entries(self, uri: str, version: int) -> _Entries | None:
        """The entries of this version, new if the stored ones are older; None if they are newer (a
        search that ended after the document changed has nothing to add)."""
        e = self._by_uri.get(uri)
        if e is not None and e.version > version:
            return None
        if e is None or e.version != version:
            e = self._by_uri[uri] = _Entries(version)
        return e

    def get(self, uri: str, version: int, site: str, model: Any, goal: str | None = None) -> list[Suggestion] | None:
        """Suggestions of an earlier search at this site of this version, or None when there was none."""
        e = self._by_uri.get(uri)
        if e is None or e.version != version:
            return None
        goal = e.goals.get((site, model)) if goal is None else goal
        return None if goal is None else e.results.get((site, goal, model))

    def put(self, uri: str, version: int, site: str, goal: str, model: Any,
            found: list[Suggestion]) -> list[Suggestion]:
        """Store a search's suggestions, merged with earlier ones at the same site; the merged list."""
        e = self._entries(uri, version)
        merged = merge(e.results.get((site, goal, model), []) if e else [], found)
        if e is not None:
            e.results[(site, goal, model)] = merged
            e.goals[(site, model)] = goal
        return merged

    def mark_broken(self, uri: str, version: int, site: str) -> None:
        if (e := self._entries(uri, version)) is not None:
            e.broken.add(site)

    def broken(self, uri: str, version: int, site: str) -> bool:
        e = self._by_uri.get(uri)
        return e is not None and e.version == version and site in e.broken

    def forget(self, uri: str) -> None:
        self._by_uri.pop(uri, None)
