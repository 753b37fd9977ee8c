#!/usr/bin/env bash
# Layers point one way (STYLE.md, 14): the modules of a crate area import
# each other without a cycle.
#
#   scripts/check-layers.sh DIR...        e.g. runtime/src, mq/src/socket
#
# For each DIR, a module is a file or a folder directly in it (`x.rs` and
# `x/` together are module `x`; a folder counts as one module however many
# files it holds, so a tangle kept inside one folder is allowed). The DIR's
# own `lib.rs`/`main.rs`/`mod.rs` (its root) is left out: it declares and
# re-exports the modules. The script reads every `crate::`, `super::` and
# `self::` path in the code (not in comments, strings, macro bodies'
# `$crate::`, or `#[cfg(test)]` items: tests may use the whole crate, as
# integration tests do), resolves it to the module it names, and prints
# the module graph, lowest layer first. It fails, printing each cycle with
# the lines that make it, if the graph has one.
#
# Paths to items of the root itself (`crate::Cancelled` in runtime/src,
# `super::Socket` in mq/src/socket) are listed, not failed on: the root
# imports everything, so a module that uses the root's own items depends on
# all of them; better to move such items into a module.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 DIR..." >&2
    exit 2
fi

exec python3 - "$@" <<'PY'
import os
import re
import sys

def strip(text):
    """Blanks comments, string and char literals (keeping line breaks)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(?:\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'\n])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)

TOKEN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*|::|#\[|[{}()\[\];,]|\n|\S")

def tokens(text):
    """(token, line) pairs."""
    line = 1
    for m in TOKEN.finditer(text):
        t = m.group(0)
        if t == "\n":
            line += 1
        else:
            yield t, line

def drop_test_items(toks):
    """Removes items under `#[cfg(test)]` (or `cfg(all(test, ...))`)."""
    out, i = [], 0
    while i < len(toks):
        t, _ = toks[i]
        if t == "#[":
            depth, j = 1, i + 1
            while j < len(toks) and depth:
                if toks[j][0] in ("[", "#["):
                    depth += 1
                elif toks[j][0] == "]":
                    depth -= 1
                j += 1
            attr = " ".join(tok for tok, _ in toks[i + 1:j - 1])
            if re.fullmatch(r"cfg \( (all \( )?test\b.*", attr):
                # Skip the item: to a `;` or a `{...}` at its own depth.
                k, depth = j, 0
                while k < len(toks):
                    tok = toks[k][0]
                    if tok in ("(", "["):
                        depth += 1
                    elif tok in (")", "]"):
                        depth -= 1
                    elif tok == ";" and depth == 0:
                        k += 1
                        break
                    elif tok == "{" and depth == 0:
                        braces = 0
                        while k < len(toks):
                            if toks[k][0] == "{":
                                braces += 1
                            elif toks[k][0] == "}":
                                braces -= 1
                                if braces == 0:
                                    break
                            k += 1
                        k += 1
                        break
                    k += 1
                i = k
                continue
        out.append(toks[i])
        i += 1
    return out

def use_tree(toks, i):
    """Expands the path (or `use` tree) starting at toks[i]; returns
    ([segments...], next index)."""
    paths, prefix = [], []
    while i < len(toks):
        t = toks[i][0]
        if t == "{":
            depth_paths, j = [], i + 1
            while j < len(toks) and toks[j][0] != "}":
                sub, j = use_tree(toks, j)
                depth_paths += sub
                if j < len(toks) and toks[j][0] == ",":
                    j += 1
            return [prefix + p for p in depth_paths] or [prefix], j + 1
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t):
            prefix.append(t)
            i += 1
            if i < len(toks) and toks[i][0] == "::":
                i += 1
                continue
            if t == "self" and len(prefix) == 1:
                prefix = []
        break
    return [prefix], i

def module_path(area_root, src_root, path):
    rel = os.path.relpath(path, src_root)
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts

def analyse(area):
    area = os.path.normpath(area)
    src = area
    while os.path.basename(src) != "src":
        parent = os.path.dirname(src)
        if parent == src or not parent:
            sys.exit(f"{area}: not inside a crate's src/ folder")
        src = parent
    prefix = os.path.relpath(area, src).split(os.sep)
    prefix = [] if prefix == ["."] else prefix
    nodes = set()
    for entry in os.listdir(area):
        full = os.path.join(area, entry)
        if os.path.isdir(full):
            nodes.add(entry)
        elif entry.endswith(".rs") and entry not in ("lib.rs", "main.rs", "mod.rs"):
            nodes.add(entry[:-3])
    edges = {}   # (from, to) -> [where]
    root_uses = {}  # module -> set of root items
    for dirpath, _, files in os.walk(area):
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            here = module_path(area, src, path)
            if len(here) <= len(prefix):
                continue  # the area's root
            node = here[len(prefix)]
            with open(path, encoding="utf-8") as f:
                toks = drop_test_items(list(tokens(strip(f.read()))))
            # `x.rs` and `x/mod.rs` are both module x, so `super` from either
            # names the parent; inline `mod y { ... }` blocks nest further.
            file_module, inline, depth = list(here), [], 0
            i = 0
            while i < len(toks):
                t = toks[i][0]
                prev = toks[i - 1][0] if i else ""
                nxt = toks[i + 1][0] if i + 1 < len(toks) else ""
                if t == "mod" and i + 2 < len(toks) and toks[i + 2][0] == "{":
                    inline.append((nxt, depth))
                    here = file_module + [m for m, _ in inline]
                elif t == "{":
                    depth += 1
                elif t == "}":
                    depth -= 1
                    if inline and inline[-1][1] == depth:
                        inline.pop()
                        here = file_module + [m for m, _ in inline]
                if t in ("crate", "super", "self") and nxt == "::" and prev != "::":
                    line = toks[i][1]
                    start = i
                    if t == "crate":
                        base, i = [], i + 2
                    elif t == "self":
                        base, i = list(here), i + 2
                    else:
                        base = list(here)
                        while i < len(toks) and toks[i][0] == "super" and i + 1 < len(toks) and toks[i + 1][0] == "::":
                            base = base[:-1]
                            i += 2
                    paths, i = use_tree(toks, i)
                    for p in paths:
                        full = base + p
                        if full[:len(prefix)] != prefix or len(full) <= len(prefix):
                            continue
                        target = full[len(prefix)]
                        where = f"{os.path.relpath(path)}:{line}"
                        if target in nodes:
                            if target != node:
                                edges.setdefault((node, target), []).append(where)
                        elif target not in ("self", "super", "crate"):
                            root_uses.setdefault(node, set()).add(target)
                    if i == start:
                        i += 1
                    continue
                i += 1
    return nodes, edges, root_uses

def sccs(nodes, succ):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
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
            out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out

def cycle_in(comp, succ):
    """A shortest cycle through the component's first node."""
    members = set(comp)
    start = comp[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(succ[v]):
                if w == start:
                    return paths[v] + [start]
                if w in members and w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return comp

failed = False
for area in sys.argv[1:]:
    nodes, edges, root_uses = analyse(area)
    succ = {v: set() for v in nodes}
    for a, b in edges:
        succ[a].add(b)
    comps = sccs(nodes, succ)
    cyclic = [c for c in comps if len(c) > 1]
    # Layers: a module's layer is one more than the highest it imports
    # (modules of one cycle share a layer).
    comp_of = {v: tuple(c) for c in comps for v in c}
    layer = {}
    for c in comps:  # Tarjan emits components after those they reach
        deps = {comp_of[w] for v in c for w in succ[v]} - {tuple(c)}
        layer[tuple(c)] = 1 + max((layer[d] for d in deps), default=-1)
    print(f"== {area}: {len(nodes)} modules, {len(edges)} imports between them")
    width = max((len(v) for v in nodes), default=0)
    for depth in range(max(layer.values(), default=-1) + 1):
        for c in sorted(c for c in layer if layer[c] == depth):
            for v in c:
                targets = " ".join(sorted(succ[v])) or "-"
                mark = "  (cycle)" if len(c) > 1 else ""
                print(f"  {depth:2} {v:<{width}} -> {targets}{mark}")
    for v in sorted(root_uses):
        print(f"  note: {v} uses items of the area's root: {', '.join(sorted(root_uses[v]))}")
    if cyclic:
        failed = True
        for c in cyclic:
            cycle = cycle_in(c, succ)
            print(f"CYCLE among {len(c)} modules ({' '.join(c)}); one of them: {' -> '.join(cycle)}")
            for a, b in zip(cycle, cycle[1:]):
                where = edges[(a, b)]
                more = f" (+{len(where) - 1} more)" if len(where) > 1 else ""
                print(f"    {a} -> {b}: {where[0]}{more}")
    else:
        print("  no cycle")
sys.exit(1 if failed else 0)
PY
