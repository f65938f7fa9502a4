#!/usr/bin/env python3
"""Sets `[edge]` settings in a bench case's copy of edge.toml: the one place the bench scripts'
BENCH_SERVER_ARGS ("KEY=VALUE ...", no spaces) are applied.

    scripts/edge-settings.py EDGE_TOML KEY=VALUE...

Each KEY (letters, digits, `_`) is written as `KEY = VALUE` at the start of `[edge]`, and the
file's own line for it there, if any, is removed; VALUE is a TOML value as written (a string
keeps its quotes). The result is parsed again and must hold each KEY with its VALUE and
everything else as it was, or nothing is written (a multi-line value in `[edge]`, which a
line-by-line edit cannot see past, is refused so). `listen` and `data_dir` are refused: the
scripts take the port from the case and assume its data directory.
Exits 1, the file unchanged, on a setting it cannot apply.
"""
import re
import sys
import tomllib

FIXED = ("listen", "data_dir")
EDGE = re.compile(r"\s*\[\s*edge\s*\]\s*(#.*)?")
# A table or array-of-tables header ends the section (a line of a multi-line array does not end
# with `]`/`]]` and a comment only).
HEADER = re.compile(r"\s*\[\[?\s*[A-Za-z0-9_.\-\"' ]+\s*\]\]?\s*(#.*)?")


def apply(text, settings):
    """The text with each setting applied; ValueError says why one cannot be."""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"the case's edge.toml does not parse ({e})") from None
    lines = text.split("\n")
    wanted = {}
    for kv in settings:
        key, sep, value = kv.partition("=")
        if not sep or value == "":
            raise ValueError(f"{kv!r} is not KEY=VALUE")
        if not re.fullmatch(r"[A-Za-z0-9_]+", key):
            raise ValueError(f"{kv!r}: KEY must be letters, digits and _ (no dotted or quoted keys)")
        if key in FIXED:
            raise ValueError(f"{key} cannot be set here: the scripts take it from the case")
        try:
            wanted[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            raise ValueError(f"{kv!r}: the value is not TOML (a string needs its quotes)") from None
        start = next((i for i, l in enumerate(lines) if EDGE.fullmatch(l)), None)
        if start is None:
            raise ValueError("the file has no [edge] section")
        end = next((i for i in range(start + 1, len(lines)) if HEADER.fullmatch(lines[i])), len(lines))
        own = re.compile(r"\s*" + key + r"\s*=")
        lines = lines[: start + 1] + [f"{key} = {value}"] + [
            l for l in lines[start + 1 : end] if not own.match(l)
        ] + lines[end:]
    out = "\n".join(lines)
    # Read line by line, a multi-line value in `[edge]` could hide a key's line or end the
    # section early: the result must parse, hold each setting, and keep everything else.
    try:
        after = tomllib.loads(out)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"the file would not parse ({e}); a multi-line value in [edge]?") from None
    edge = after.get("edge", {})
    kept = {k: v for k, v in before.get("edge", {}).items() if k not in wanted}
    if (any(edge.get(k) != v for k, v in wanted.items())
            or {k: v for k, v in edge.items() if k not in wanted} != kept
            or {k: v for k, v in after.items() if k != "edge"}
            != {k: v for k, v in before.items() if k != "edge"}):
        raise ValueError("the settings did not apply cleanly; a multi-line value in [edge]?")
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    with open(path) as f:
        text = f.read()
    try:
        out = apply(text, sys.argv[2:])
    except ValueError as e:
        sys.exit(f"edge-settings: {path}: {e}")
    if out != text:
        with open(path, "w") as f:
            f.write(out)


if __name__ == "__main__":
    main()
