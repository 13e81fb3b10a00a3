"""``switch_separate_string`` with a blank delimiter (switch_utils.c, v1.10.12), ported.

API commands split their argument with it, which is how mod_audio_fork cuts JSON metadata
with spaces: the words become separate arguments, except that the last slot keeps the rest
of the line. Single quotes group words and are removed; a backslash escapes the next
character (``\\n``, ``\\t``, ``\\r``, ``\\s`` are unescaped).
"""

from __future__ import annotations

_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def _cleanup(token: str) -> str:
    """cleanup_separated_string: strip quotes, unescape, drop leading/trailing blanks."""
    i = 0
    while i < len(token) and token[i] == " ":
        i += 1
    out: list[str] = []
    end = 0
    inside = False
    while i < len(token):
        ch = token[i]
        if ch == "\\" and i + 1 < len(token):
            nxt = token[i + 1]
            if nxt in ("'", '"', "\\") or nxt in _UNESCAPE:
                out.append(_UNESCAPE.get(nxt, nxt))
                end = len(out)
                i += 2
                continue
        if ch == "'" and (inside or "'" in token[i + 1 :]):
            inside = not inside
            if inside:
                end = len(out)
        else:
            out.append(ch)
            if ch != " " or inside:
                end = len(out)
        i += 1
    return "".join(out[:end])


def separate_string(text: str, max_args: int) -> list[str]:
    """Split like FreeSWITCH: at most ``max_args`` tokens, the last one keeps the remainder."""
    starts: list[int] = []
    cuts: list[int] = []
    state = "start"
    inside = False
    i = 0
    while i < len(text) and len(starts) < max_args:
        ch = text[i]
        if state == "start":
            starts.append(i)
            state = "skip_initial"
            continue
        if state == "skip_initial":
            if ch == " ":
                i += 1
            else:
                state = "find"
            continue
        if state == "find":
            if ch == "\\":
                i += 1
            elif ch == "'":
                inside = not inside
            elif ch == " " and not inside:
                cuts.append(i)
                state = "skip_end"
            i += 1
            continue
        # skip_end
        if ch == " ":
            i += 1
        else:
            state = "start"
    tokens = []
    for n, start in enumerate(starts):
        stop = cuts[n] if n < len(cuts) else len(text)
        tokens.append(_cleanup(text[start:stop]))
    return tokens
