#!/usr/bin/python3
"""The code blocks of a Markdown file (README.md), for tests/net/t_readme.sh.

    readme_blocks.py FILE list           one line per block: N<TAB>first line
    readme_blocks.py FILE get N          block N's text
    readme_blocks.py FILE after TEXT     the block right after the line TEXT

A block is a fenced one (``` ... ```) or an indented one (lines indented by
four spaces after a blank line, outside a list item's continuation); its text
has the indentation removed.
"""
import sys


def prev_text(lines, i):
    """The index of the last non-blank line before line i (-1: none)."""
    i -= 1
    while i >= 0 and lines[i].strip() == "":
        i -= 1
    return i


def blocks(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []  # (index of the text line before, text)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append((prev_text(lines, i), "\n".join(lines[i + 1:j]) + "\n"))
            i = j + 1
            continue
        prev_blank = i == 0 or lines[i - 1].strip() == ""
        # An indented block follows a blank line; a list item's wrapped text
        # is indented by 2 or 3 spaces, never 4, in this README.
        if line.startswith("    ") and prev_blank:
            j = i
            body = []
            while j < len(lines) and (lines[j].startswith("    ") or lines[j].strip() == ""):
                body.append(lines[j][4:])
                j += 1
            while body and body[-1].strip() == "":
                body.pop()
            out.append((prev_text(lines, i), "\n".join(body) + "\n"))
            i = j
            continue
        i += 1
    return lines, out


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    lines, bl = blocks(path)
    if cmd == "list":
        for n, (_, text) in enumerate(bl):
            print("%d\t%s" % (n, text.split("\n")[0]))
    elif cmd == "get":
        sys.stdout.write(bl[int(sys.argv[3])][1])
    elif cmd == "after":
        for before, text in bl:
            if before >= 0 and lines[before] == sys.argv[3]:
                sys.stdout.write(text)
                return 0
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
