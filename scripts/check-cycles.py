#!/usr/bin/env python3
"""Fails when modules of one crate import each other in a loop.

For every crate of the workspace (each `src/` tree), every `.rs` file is a module. A file
depends on another when it names it through `crate::…`, `super::…` or `self::…` paths (in `use`
items or in expressions); a path resolves to the deepest module file it reaches, so
`crate::shard::pipeline::Effect` is `shard/pipeline.rs` and `crate::shard::Out` (re-exported)
is `shard/mod.rs`. `mod x;` declarations are not dependencies. Two levels are checked:

- modules (files): no cycle at all;
- top-level modules (a crate's first-level files and folders): no cycle between them either, so
  each folder is a layer above or below every other.

Comments and string literals are ignored. Prints each cycle with the references that make it.
Run from anywhere: `scripts/check-cycles.py [REPO]` (part of `make test`).
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# vendor/: third-party crates kept as published plus a patch (vendor/README.md); their module
# structure is upstream's.
SKIP = {"target", "node_modules", ".git", "fuzz", "vendor"}

PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP_RE = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{", re.S)


def strip(code):
    """Removes comments and string/char literals, keeping line structure."""
    out, i, n = [], 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            j = code.find("\n", i)
            i = n if j < 0 else j
        elif code.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if code.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif code.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if code[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', code[i:i + 10]):
            m = re.match(r'r(#*)"', code[i:])
            end = '"' + m.group(1)
            j = code.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append("\n" * code.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and code[j] != '"':
                j += 2 if code[j] == "\\" else 1
            out.append("\n" * code.count("\n", i, j + 1))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", code[i:i + 4]):
            i += len(re.match(r"'(\\.|[^\\'])'", code[i:i + 4]).group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def modules(src):
    """Module path (tuple) -> file, for one crate's src/."""
    mods = {}
    for dirpath, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in SKIP]
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[0] == "bin":
                continue  # binaries are crates of their own
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            mods[tuple(parts)] = rel
    return mods


def resolve(mods, here, kind, rest):
    """The deepest module a path reaches, from module `here`."""
    segs = [s for s in rest.split("::") if s]
    if kind == "crate":
        base = ()
    elif kind == "self":
        base = here
    else:
        base = here
        while segs and segs[0] == "super":
            segs = segs[1:]
        base = here[:-1]
        # `super::super::x`: one more level per extra `super`.
        extra = len(re.findall(r"super", rest))
        base = here[: max(0, len(here) - 1 - extra)]
    path = base
    best = base if base in mods else None
    for s in segs:
        path = path + (s,)
        if path in mods:
            best = path
        else:
            break
    return best


def deps(mods, here, code):
    found = defaultdict(set)
    for m in PATH_RE.finditer(code):
        kind, rest = m.group(1), m.group(2)
        if kind == "super":
            # count leading supers in the whole path
            full = m.group(0)
            segs = full.split("::")
            ups = 0
            while segs and segs[0] == "super":
                ups += 1
                segs = segs[1:]
            base = here[: max(0, len(here) - ups)]
            path, best = base, (base if base in mods else None)
            for s in segs:
                path = path + (s,)
                if path in mods:
                    best = path
                else:
                    break
            target = best
        else:
            target = resolve(mods, here, kind, rest)
        if target is not None and target != here:
            found[target].add(m.group(0))
    # `use crate::a::{b, c::D}`: the group's members are modules too.
    for m in USE_GROUP_RE.finditer(code):
        start = m.end()
        depth, j = 1, start
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        prefix = m.group(2)
        for item in re.findall(r"[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*", code[start:j - 1]):
            if item in ("self",):
                continue
            if m.group(1) == "super":
                full = "super" + prefix + "::" + item
                segs = full.split("::")
                ups = 0
                while segs and segs[0] == "super":
                    ups += 1
                    segs = segs[1:]
                base = here[: max(0, len(here) - ups)]
            else:
                segs = [s for s in (prefix + "::" + item).split("::") if s]
                base = () if m.group(1) == "crate" else here
            path, best = base, (base if base in mods else None)
            for s in segs:
                path = path + (s,)
                if path in mods:
                    best = path
                else:
                    break
            if best is not None and best != here:
                found[best].add(f"{m.group(1)}{prefix}::{{{item}}}")
    return found


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def crates():
    for dirpath, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".")]
        if "Cargo.toml" in files and os.path.isdir(os.path.join(dirpath, "src")):
            yield dirpath


def main():
    failed = False
    checked = 0
    for crate in sorted(crates()):
        src = os.path.join(crate, "src")
        mods = modules(src)
        graph, why = defaultdict(set), {}
        for here, rel in mods.items():
            with open(os.path.join(src, rel), encoding="utf-8") as f:
                code = strip(f.read())
            for target, refs in deps(mods, here, code).items():
                graph[here].add(target)
                why[(here, target)] = refs
        name = os.path.relpath(crate, ROOT)
        checked += 1
        for comp in cycles(graph):
            failed = True
            print(f"check-cycles: {name}: modules import each other in a loop:", file=sys.stderr)
            for a in comp:
                for b in comp:
                    if b in graph.get(a, ()):
                        refs = ", ".join(sorted(why[(a, b)])[:4])
                        print(f"  {mods[a]} -> {mods[b]}: {refs}", file=sys.stderr)
        # Top level: the first segment of each module (files and folders of src/).
        top, top_why = defaultdict(set), defaultdict(set)
        for a, targets in graph.items():
            for b in targets:
                ta, tb = a[:1], b[:1]
                if ta and tb and ta != tb:
                    top[ta].add(tb)
                    top_why[(ta, tb)].add(f"{mods[a]} -> {mods[b]}")
        for comp in cycles(top):
            failed = True
            names = ", ".join("/".join(c) for c in comp)
            print(f"check-cycles: {name}: top-level modules {names} import each other:", file=sys.stderr)
            for a in comp:
                for b in comp:
                    if b in top.get(a, ()):
                        for r in sorted(top_why[(a, b)])[:3]:
                            print(f"  {r}", file=sys.stderr)
    if failed:
        return 1
    print(f"check-cycles: ok ({checked} crates, no module imports itself through others)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
