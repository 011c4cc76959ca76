"""Mapping-file text as data: plain values out of ruamel's tree, and a pointer at bad indents."""

from __future__ import annotations

from typing import Any

# What the YAML parser says -> what an administrator should read, and what to do about it.
_PLAIN_PROBLEMS = (
    ("mapping values are not allowed", "a `key: value` pair where none may start", None),
    ("expected <block end>", "a line does not line up with the lines above it", None),
    ("could not find expected ':'", "a key is missing its `:`", "write `key: value`"),
    (
        "cannot start any token",
        "a tab or a stray character where YAML expects text",
        "indent with spaces, and quote text that starts with `@`, `` ` `` or `%`",
    ),
    (
        "found undefined alias",
        "an alias (`*name`) names an anchor that is not defined",
        "define it first with `&name`, e.g. under an `x-` key",
    ),
    ("expected ',' or ']'", "a `[` list is not closed", "end the list with `]`"),
    ("expected ',' or '}'", "a `{` mapping is not closed", "end the mapping with `}`"),
    ("found unexpected end of stream", "a quoted text is not closed", "add the closing quote"),
)
_ADVICE = "check the indentation and the `key: value` layout of this line"


def plain_problem(problem: str) -> tuple[str, str]:
    """The YAML parser's complaint in plain words, with advice on what to change."""
    for marker, meaning, advice in _PLAIN_PROBLEMS:
        if marker in problem:
            return meaning, advice or _ADVICE
    return problem, _ADVICE


def indent_hint(text: str) -> tuple[int, int, str] | None:
    """The first line whose indentation matches no enclosing block, with a suggestion.

    YAML parsers notice a bad indent a line or two late; this finds the line a person must fix.
    """
    # Open blocks, outermost first: (indent, the last line seen at that indent).
    stack: list[tuple[int, int]] = [(0, 0)]
    previous: tuple[int, int, bool] | None = None  # line number, indent, opens a block
    block_scalar_indent: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if block_scalar_indent is not None:
            if indent > block_scalar_indent:
                continue
            block_scalar_indent = None
        content = stripped.split(" #", 1)[0].rstrip()
        if previous is not None:
            prev_number, prev_indent, opens = previous
            if indent > prev_indent and not opens:
                return (
                    number,
                    indent + 1,
                    f"line {number} is indented {indent} spaces, deeper than line {prev_number}"
                    f" ({prev_indent}), which does not end in `:` and so opens no block:"
                    f" indent line {number} like line {prev_number}, or end line"
                    f" {prev_number} with `:` if it names a block",
                )
            if indent > prev_indent:
                stack.append((indent, number))
            elif indent < prev_indent:
                inner = stack[-1]
                while stack[-1][0] > indent:  # the outermost block, at 0, never pops
                    inner = stack.pop()
                if stack[-1][0] != indent:
                    level, seen_at = stack[-1]
                    outer = f", line {seen_at} is indented {level}" if seen_at else ""
                    return (
                        number,
                        indent + 1,
                        f"line {number} is indented {indent} spaces, which lines up with no line"
                        f" above it (line {inner[1]} is indented {inner[0]}{outer}): give it"
                        f" the indentation of the lines of the block it belongs to",
                    )
        stack[-1] = (stack[-1][0], number)
        opens = content.endswith(":") or content.startswith("- ") or content == "-"
        if content.endswith(("|", ">", "|-", ">-")):
            block_scalar_indent = indent
        previous = (number, indent, opens)
    return None


def plain(node: Any) -> Any:
    """ruamel's round-trip nodes as plain Python values (positions are kept on the tree)."""
    if isinstance(node, dict):
        return {plain(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    for base in (bool, int, float, str):
        if isinstance(node, base):
            return base(node)
    return node


__all__ = ["indent_hint", "plain", "plain_problem"]
