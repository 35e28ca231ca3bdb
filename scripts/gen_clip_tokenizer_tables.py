#!/usr/bin/env python3
"""Writes host/models/src/clip_tokenizer_tables.cpp: the HTML5 named
character references that clip_tokenizer's html.unescape needs.

Source: Python's own html.entities.html5 (the WHATWG list that
html.unescape, and so openai/CLIP's basic_clean, uses), sorted by the
UTF-8 bytes of the name. Values are C string literals: printable ASCII as is,
every other byte (and '"', '\\', '?') as a three-digit octal escape, so the
file is pure ASCII and free of trigraphs.

Regenerate (standard library only; the committed file came from Python 3.11):
    python3 scripts/gen_clip_tokenizer_tables.py > host/models/src/clip_tokenizer_tables.cpp
The test `tokenizer_tables_regenerate` (tests/tokenizer.cmake) checks that
the output equals the committed file byte for byte.
"""
import html.entities
import sys


def c_literal(text):
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if 0x20 <= byte < 0x7F and ch not in '"\\?':
            out.append(ch)
        else:
            out.append("\\%03o" % byte)
    return '"' + "".join(out) + '"'


def main():
    entries = sorted(html.entities.html5.items(), key=lambda kv: kv[0].encode("utf-8"))
    lines = [
        "// Generated data tables for clip_tokenizer.cpp. Do not edit by hand.",
        "// HTML5 named character references (the WHATWG list, as in Python's",
        "// html.entities.html5), sorted by name bytes.",
        '#include "clip_tokenizer_tables.hpp"',
        "namespace ovseg::models::detail {",
        "const EntityEntry kHtml5Entities[] = {",
    ]
    lines += ["  {%s, %s}," % (c_literal(name), c_literal(value)) for name, value in entries]
    lines += [
        "};",
        "const std::size_t kHtml5EntityCount = %d;" % len(entries),
        "}  // namespace ovseg::models::detail",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
