"""Position codecs, one per side, on astral characters at line ends: the Lean side's (UTF-16 units <->
code points, leanfd/lean/positions.py, checked against the columns the bundled Lean itself reports) and
the editor side's (`LineIndex` in leanfd/lsp/sites.py, through pygls's `PositionCodec`)."""

from __future__ import annotations

import pytest

from leanfd.lean.positions import utf16_position, utf16_to_index, utf16_units

# `𝔽` (U+1D53D) and `😀` (U+1F600) are one code point and two UTF-16 units each; `→`, `α` one of each.
TEXT = "theorem t𝔽 : α → 𝔽\n  😀\n\nx😀😀\n"


def test_units():
    assert utf16_units("") == 0 and utf16_units("abc") == 3 and utf16_units("α→") == 2
    assert utf16_units("𝔽") == 2 and utf16_units("x😀😀") == 5


def test_astral_characters_at_line_ends():
    first = TEXT.split("\n")[0]  # 18 code points, 20 units: `𝔽` at index 9 and at the end (index 17)
    assert len(first) == 18 and utf16_units(first) == 20
    assert utf16_position(TEXT, 18) == {"line": 0, "character": 20}  # the end of the line
    assert utf16_position(TEXT, 17) == {"line": 0, "character": 18}  # before the last `𝔽`
    assert utf16_to_index(first, 20) == 18 and utf16_to_index(first, 18) == 17
    assert utf16_to_index(first, 19) == 18  # inside the pair: after the character
    assert utf16_position(TEXT, TEXT.index("😀") + 1) == {"line": 1, "character": 4}  # "  😀|"
    assert utf16_position(TEXT, TEXT.index("\n\n") + 1) == {"line": 2, "character": 0}  # an empty line
    assert utf16_position(TEXT, len(TEXT) - 1) == {"line": 3, "character": 5}  # "x😀😀|"
    assert utf16_position(TEXT, len(TEXT)) == {"line": 4, "character": 0}  # after the last newline
    assert utf16_to_index("x😀😀", 5) == 3 and utf16_to_index("x😀😀", 7) == 5  # past the end: as code points
    assert utf16_to_index("abc", 9) == 9  # ASCII converts to itself


def test_round_trip_at_every_offset():
    lines = TEXT.split("\n")
    for offset in range(len(TEXT) + 1):
        pos = utf16_position(TEXT, offset)
        line = pos["line"]
        column = offset - (TEXT.rfind("\n", 0, offset) + 1)
        assert utf16_to_index(lines[line], pos["character"]) == column


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_editor_positions_round_trip_through_pyglss_codec(encoding):
    from lsprotocol.types import Position
    from pygls.workspace import PositionCodec

    from leanfd.lsp.sites import LineIndex

    index, codec = LineIndex(TEXT), PositionCodec(encoding)
    lines = TEXT.splitlines(keepends=True)
    for offset in range(len(TEXT) + 1):
        line, character = index.position(offset, encoding)
        column = offset - index.starts[line]
        if line < len(lines):
            assert codec.position_to_client_units(lines, Position(line=line, character=column)).character == character
        assert index.offset(line, character, encoding) == offset
    first = TEXT.split("\n")[0]
    width = {"utf-8": len(first.encode()), "utf-16": 20, "utf-32": 18}[encoding]
    assert index.position(len(first), encoding) == (0, width)  # after the `𝔽` that ends the line
    assert index.offset(0, width + 5, encoding) == len(first)  # past the end of a line: its end
    assert index.offset(3, 999, encoding) == len(TEXT) - 1  # "x😀😀|"


async def test_the_server_and_lean_json_agree_on_columns_after_astral_characters(bundled, toy_header):
    """An error after `𝔽` and an emoji on its line: the server's UTF-16 columns, converted, are the code-point
    columns of `lean --json`."""
    from leanfd.lean.oneshot import OneShotBackend
    from leanfd.lean.server import ServerBackend

    body = "def 𝔽😀 : N := N.zero\ntheorem t𝔽 : Eq 𝔽😀 (N.succ N.zero) := Eq.refl 𝔽😀\n"
    async with ServerBackend(bundled, workers=1, timeout=30) as pool:
        served = await pool.run(toy_header, body)
    oneshot = OneShotBackend(bundled, jobs=1)
    try:
        plain = await oneshot.run(toy_header, body, 30)
    finally:
        await oneshot.aclose()
    assert served.outcome == plain.outcome == "ok"
    spots = [(m.line, m.column) for m in served.messages]
    assert spots == [(m.line, m.column) for m in plain.messages] and spots
    assert any(col > body.split("\n")[1].index("𝔽😀 (") for _, col in spots)  # past astral characters
