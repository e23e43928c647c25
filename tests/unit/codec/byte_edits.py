"""Random byte edits for the codec fuzz tests: what a truncated, corrupted or spliced stream
looks like to a decoder."""

from __future__ import annotations

from hypothesis import strategies as st


def edited(draw: st.DrawFn, data: bytes, edits: int) -> bytes:
    """``data`` after ``edits`` random edits, each overwriting one byte, deleting 1-8 bytes or
    inserting 1-8 random ones."""
    out = bytearray(data)
    for _ in range(edits):
        op = draw(st.integers(0, 2))
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if op == 0 and out:
            out[pos] = draw(st.integers(0, 255))
        elif op == 1:
            del out[pos : pos + draw(st.integers(1, 8))]
        else:
            out[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    return bytes(out)
