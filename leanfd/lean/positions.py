"""The one position codec of the Lean side: `lean --server`'s UTF-16 positions <-> code points.

`lean --server` speaks LSP, whose `character` counts UTF-16 code units (Lean 4.35 offers no other
position encoding), while `lean --json` and Python strings count code points. A character beyond the
Basic Multilingual Plane (`𝔽`, `𝔸`, an emoji) is two UTF-16 units and one code point; every other
character is one of each. Editors negotiate their own encoding with leanfd's language server: that
side is pygls's `PositionCodec` (leanfd/lsp), never this module. Pure: no Lean.
"""

from __future__ import annotations


def utf16_units(text: str) -> int:
    """How many UTF-16 code units `text` takes."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_to_index(line: str, units: int) -> int:
    """The code-point column of LSP's UTF-16 `character` in `line`, as `lean --json` counts columns.

    A position inside a surrogate pair lands after the character; units past the end of the line are
    counted as code points (so ASCII text converts to itself, whatever the position).
    """
    if line.isascii():
        return units
    count = 0
    for i, ch in enumerate(line):
        if count >= units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(line) + max(0, units - count)


def utf16_position(text: str, offset: int) -> dict[str, int]:
    """The LSP position (0-based `line`, `character` in UTF-16 units) of code-point `offset` in `text`."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return {"line": line, "character": utf16_units(text[start:offset])}
