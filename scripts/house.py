#!/usr/bin/env python3
"""The house's shape, measured from src/: the longest functions and the import cycles between
files. `scripts/house.py [ROOT] [--top N]`; exit code 1 when a cycle exists.

Function length: lines from `fn` to its closing brace (comments and blank lines included).
Imports: `use crate::a::b` and `use super::x` (and `crate::x::` paths), mapped to files."""
import os
import re
import sys
from collections import defaultdict

FN = re.compile(r'^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"C"\s+)?fn\s+(\w+)')


def strip_line(line):
    """The line without its // comment and string contents (roughly, enough for braces)."""
    line = re.sub(r"'(?:\\.|[^'\\])'", "''", line)
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    return line.split('//')[0]


def functions(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    out = []
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m or line.strip().startswith('//'):
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            s = strip_line(lines[j])
            if not opened and ';' in s and '{' not in s:
                break  # a declaration without a body
            depth += s.count('{') - s.count('}')
            opened = opened or '{' in s
            if opened and depth <= 0:
                out.append((j - i + 1, f'{path}:{i + 1}', m.group(1)))
                break
    return out


def module_files(root):
    src = os.path.join(root, 'src')
    files = {}
    for d, _, names in os.walk(src):
        for n in names:
            if n.endswith('.rs'):
                p = os.path.join(d, n)
                rel = os.path.relpath(p, src)[:-3].split(os.sep)
                if rel[-1] == 'mod':
                    rel = rel[:-1]
                if rel == ['lib'] or rel[0] == 'bin':
                    continue
                files[tuple(rel)] = os.path.relpath(p, root)
    return files


def imports(root):
    files = module_files(root)
    graph = defaultdict(set)
    for mod, path in files.items():
        text = open(os.path.join(root, path), encoding='utf-8').read()
        text = re.sub(r'//[^\n]*', '', text)
        paths = re.findall(r'\bcrate::((?:\w+::)*\w+)', text)
        for sup in re.findall(r'\bsuper::((?:\w+::)*\w+)', text):
            base = list(mod[:-1]) if not path.endswith('mod.rs') else list(mod[:-1])
            paths.append('::'.join(base + sup.split('::')))
        for p in paths:
            parts = tuple(p.split('::'))
            # The longest prefix that is a file of the house.
            for k in range(len(parts), 0, -1):
                if parts[:k] in files and parts[:k] != mod:
                    # A parent module (mod.rs) only counts when nothing deeper matched.
                    graph[path].add(files[parts[:k]])
                    break
    return files, graph


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

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


def main():
    args = sys.argv[1:]
    top = 10
    if '--top' in args:
        i = args.index('--top')
        top = int(args[i + 1])
        del args[i:i + 2]
    root = args[0] if args else os.path.join(os.path.dirname(__file__), '..')
    fns = []
    for d, _, names in os.walk(os.path.join(root, 'src')):
        for n in names:
            if n.endswith('.rs'):
                fns += functions(os.path.join(d, n))
    fns.sort(reverse=True)
    print(f'longest functions (of {len(fns)}):')
    for length, where, name in fns[:top]:
        print(f'  {length:4}  {name:32} {os.path.relpath(where.rsplit(":", 1)[0], root)}:{where.rsplit(":", 1)[1]}')
    print(f'functions over 80 lines: {sum(1 for f in fns if f[0] > 80)}')
    _, graph = imports(root)
    found = cycles(graph)
    print(f'import cycles between files: {len(found)}')
    for c in found:
        print('  ' + ' <-> '.join(c))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
