"""Mapping-file text as data: plain values out of ruamel's tree, and a pointer at bad indents."""

from __future__ import annotations

from typing import Any


def indent_hint(text: str) -> tuple[int, int, str] | None:
    """The first line whose indentation matches no enclosing block, with a suggestion.

    YAML parsers notice a bad indent a line or two late; this finds the line a person must fix.
    """
    stack = [0]
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
                    f" ({prev_indent}), which does not open a block: align it with line"
                    f" {prev_number}",
                )
            if indent > prev_indent:
                stack.append(indent)
            elif indent < prev_indent:
                while stack and stack[-1] > indent:
                    stack.pop()
                if not stack or stack[-1] != indent:
                    return (
                        number,
                        indent + 1,
                        f"line {number} is indented {indent} spaces, which matches no enclosing"
                        f" block (line {prev_number} is indented {prev_indent}): align them",
                    )
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


__all__ = ["indent_hint", "plain"]
