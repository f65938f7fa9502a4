#!/usr/bin/env python3
"""Sets `[edge]` settings in a bench case's copy of edge.toml: the one place the bench scripts'
BENCH_SERVER_ARGS ("KEY=VALUE ...", no spaces) are applied.

    scripts/edge-settings.py EDGE_TOML KEY=VALUE...

Each KEY (letters, digits, `_`) replaces the file's own line for it in `[edge]`, or is added at
the section's start; VALUE is written as given (a string keeps its TOML quotes). `listen` and
`data_dir` are refused: the scripts read them from the case itself. Exits 1, the file
unchanged, on a setting it cannot apply.
"""
import re
import sys

FIXED = ("listen", "data_dir")


def apply(text, settings):
    lines = text.split("\n")
    for kv in settings:
        key, sep, value = kv.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", key) or value == "":
            raise ValueError(f"edge setting {kv!r} is not KEY=VALUE")
        if key in FIXED:
            raise ValueError(f"edge setting {key} cannot be changed here: the scripts read it from the case")
        try:
            start = lines.index("[edge]")
        except ValueError:
            raise ValueError("the file has no [edge] section") from None
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        own = re.compile(r"\s*" + key + r"\s*=")
        lines = lines[: start + 1] + [f"{key} = {value}"] + [
            l for l in lines[start + 1 : end] if not own.match(l)
        ] + lines[end:]
    return "\n".join(lines)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    with open(path) as f:
        text = f.read()
    try:
        text = apply(text, sys.argv[2:])
    except ValueError as e:
        sys.exit(str(e))
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
