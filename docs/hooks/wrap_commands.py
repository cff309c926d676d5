"""MkDocs hook: long shell commands in the pages' code blocks are shown wrapped, with ``\\``.

A command in a page's Markdown stays on one line, where tests/test_docs_commands.py parses and checks it;
on the site, a command longer than ``WIDTH`` characters is broken before its options into lines that end
in `` \\`` (bash's line continuation), so that the code block needs no horizontal scrolling and what the
copy button copies still runs as one command. A comment after the command moves to a line of its own
above it. Only shell blocks (bash, sh, shell, console, or no language) are touched, and in them only
lines that start a command (not output, tables or listings).
"""

from __future__ import annotations

import re
import shlex

WIDTH = 96  # characters; a code block on a 1280-pixel-wide window shows about 110
INDENT = "    "
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w-]*)")
SHELL = {"bash", "sh", "shell", "console", ""}
CONNECTIVES = ("&&", "||", "|", ";")
COMMAND = re.compile(r"^(\$ )?(python3? |pip |mkdocs |bash |ruff |mypy |pytest |[A-Z_]+=\S+ )")


def on_page_markdown(markdown: str, **kwargs) -> str:
    lines = markdown.split("\n")
    out: list[str] = []
    fence = None  # the open fence's marker, while inside a shell block
    skipping = None  # the open fence's marker, while inside another block
    for line in lines:
        m = FENCE.match(line)
        if skipping is not None:
            skipping = None if m and m["fence"].startswith(skipping) and not m["lang"] else skipping
            out.append(line)
            continue
        if fence is None:
            if m:
                if m["lang"] in SHELL:
                    fence = m["fence"]
                else:
                    skipping = m["fence"]
            out.append(line)
            continue
        if m and m["fence"].startswith(fence) and not m["lang"]:
            fence = None
            out.append(line)
            continue
        out.extend(wrap(line))
    return "\n".join(out)


def wrap(line: str, width: int = WIDTH) -> list[str]:
    """``line`` as it is, or broken into lines ending in `` \\`` if it is a command longer than ``width``."""
    indent = line[: len(line) - len(line.lstrip())]
    text = line.strip()
    if len(line) <= width or not COMMAND.match(text) or text.endswith("\\"):
        return [line]
    command, comment = _split_comment(text)
    try:
        lexer = shlex.shlex(command, posix=False, punctuation_chars=False)
        lexer.whitespace_split = True
        lexer.commenters = ""
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: leave the line alone
        return [line]
    # groups kept on one line: an option with its values, a connective (&&, |) with the word after it
    groups: list[list[str]] = []
    for token in tokens:
        breaks = token.startswith("-") or token in CONNECTIVES
        if groups and not (breaks and groups[-1][-1] not in CONNECTIVES):
            groups[-1].append(token)
        else:
            groups.append([token])
    pieces: list[str] = []
    current = ""
    for group in groups:
        text_group = " ".join(group)
        limit = width - len(indent) - len(INDENT if pieces else "") - 2
        if current and len(current) + 1 + len(text_group) > limit:
            pieces.append(current)
            current = text_group
        else:
            current = f"{current} {text_group}" if current else text_group
    pieces.append(current)
    wrapped = [f"{indent}{pieces[0]}"] + [f"{indent}{INDENT}{p}" for p in pieces[1:]]
    wrapped = [f"{p} \\" for p in wrapped[:-1]] + wrapped[-1:]
    if comment:
        wrapped.insert(0, f"{indent}# {comment}")
    return wrapped


def _split_comment(text: str) -> tuple[str, str]:
    """The command and its trailing ``# comment`` (a ``#`` after whitespace, outside quotes)."""
    quote = None
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and i and text[i - 1].isspace():
            return text[:i].rstrip(), text[i + 1 :].strip()
    return text, ""
