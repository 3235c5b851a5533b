"""The solution markers (instructor-only): `### BEGIN SOLUTION` / `### END
SOLUTION` regions found and checked, each turned into a TODO block with its
hint from grading/hints.toml, and put back into a release (tools/release.py)."""
import ast
import importlib.util
import re
import sys
import textwrap
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package (a test dependency)
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        sys.exit('the instructor tools need Python 3.11 or newer, or the tomli package '
                 '(pip install tomli) on Python 3.10')

_MISSING = [m for m in ('numpy', 'nbformat') if importlib.util.find_spec(m) is None]
if _MISSING:   # e.g. the system python instead of the suite's environment
    sys.exit('the instructor tools need %s, which %s cannot import: run them with the suite\'s '
             'environment, .venv/bin/python (bash scripts/setup.sh makes it)'
             % (' and '.join(_MISSING), sys.executable))

ROOT = Path(__file__).resolve().parent.parent
HINTS = ROOT / 'grading' / 'hints.toml'

BEGIN = re.compile(r'^(?P<ind>[ \t]*)### BEGIN SOLUTION[ \t]*\r?\n?$')
END = re.compile(r'^(?P<ind>[ \t]*)### END SOLUTION[ \t]*\r?\n?$')
# In markdown cells (model answers to the inline questions) the markers are
# HTML comments, which a rendered notebook does not show; the release drops
# such a region whole.
MD_BEGIN = re.compile(r'^(?P<ind>)<!-- BEGIN SOLUTION -->[ \t]*\r?\n?$')
MD_END = re.compile(r'^(?P<ind>)<!-- END SOLUTION -->[ \t]*\r?\n?$')
TODO_BEGIN = re.compile(r'^[ \t]*# =* TODO: (?P<key>\S+) =*[ \t]*\r?\n?$')
TODO_END = re.compile(r'^[ \t]*# =* END OF TODO =*[ \t]*\r?\n?$')
WIDTH = 79

class ReleaseError(Exception):
    pass



def find_regions(lines, where, markdown=False):
    """(begin, end, indent) of every marked region, as line indices (inclusive):
    `### BEGIN SOLUTION` regions in code, `<!-- BEGIN SOLUTION -->` ones in
    markdown (markdown=True)."""
    begin_re, end_re = (MD_BEGIN, MD_END) if markdown else (BEGIN, END)
    regions, start = [], None
    for i, line in enumerate(lines):
        if begin_re.match(line):
            if start is not None:
                raise ReleaseError('%s:%d: BEGIN SOLUTION inside another region (opened at line %d)'
                                   % (where, i + 1, start + 1))
            start = i
        elif end_re.match(line):
            if start is None:
                raise ReleaseError('%s:%d: END SOLUTION without a BEGIN SOLUTION' % (where, i + 1))
            ind, ind_end = begin_re.match(lines[start]).group('ind'), end_re.match(line).group('ind')
            if ind != ind_end:
                raise ReleaseError('%s:%d: END SOLUTION is not indented like its BEGIN SOLUTION (line %d)'
                                   % (where, i + 1, start + 1))
            regions.append((start, i, ind))
            start = None
        elif 'BEGIN SOLUTION' in line or 'END SOLUTION' in line:
            raise ReleaseError('%s:%d: a solution marker must be alone on its line%s: %r'
                               % (where, i + 1, ', written <!-- BEGIN SOLUTION --> or '
                                  '<!-- END SOLUTION --> in a markdown cell' if markdown else '',
                                  line.strip()))
    if start is not None:
        raise ReleaseError('%s:%d: BEGIN SOLUTION is never closed' % (where, start + 1))
    return regions


def python_keys(text, regions, where):
    """The function (Class.method) that holds each region of a Python file;
    None for a region at the top level of the file (left out of the release)."""
    tree = ast.parse(text, filename=where)
    funcs = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                funcs.append((child.lineno, child.end_lineno, prefix + child.name))
                visit(child, prefix + child.name + '.')
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + '.')
            else:
                visit(child, prefix)
    visit(tree, '')
    keys = []
    for begin, end, ind in regions:
        holders = [f for f in funcs if f[0] <= begin + 1 and end + 1 <= f[1]]
        if holders:
            keys.append(max(holders)[2])  # the innermost: the one that starts last
            continue
        inside = [n for n in tree.body if n.lineno <= begin + 1 <= n.end_lineno
                  or n.lineno <= end + 1 <= n.end_lineno]
        if ind or inside:
            raise ReleaseError('%s:%d: a solution region outside any function must be at the '
                               'top level of the file, around whole definitions' % (where, begin + 1))
        keys.append(None)
    return keys


def load_hints(path=HINTS):
    hints = tomllib.loads(Path(path).read_text(encoding='utf-8'))
    for key, h in hints.items():
        missing = {'task', 'shapes', 'hint'} - set(h)
        if missing:
            raise ReleaseError('%s: [%s] lacks %s' % (path, key, ', '.join(sorted(missing))))
    return hints


def _comment(indent, label, text):
    body = ' '.join(text.split())
    # never break a line inside parentheses: "(N, H)" stays whole
    body = re.sub(r'\(([^()]*)\)', lambda m: '(%s)' % m.group(1).replace(' ', '\xa0'), body)
    body = re.sub(r'(\(\d\)) ', '\\1\xa0', body)   # "(2) embed" stays on one line
    width = WIDTH - len(indent) - 2
    wrapped = textwrap.wrap('%s: %s' % (label, body), width=width, subsequent_indent='  ',
                            break_long_words=False, break_on_hyphens=False)
    return ['%s# %s\n' % (indent, w.replace('\xa0', ' ')) for w in wrapped]


def todo_block(indent, key, hint, what):
    """The lines that replace one solution region."""
    rule = WIDTH - len(indent) - 2
    title = hint.get('title', key)
    lines = ['%s# %s\n' % (indent, (' TODO: %s ' % title).center(rule, '='))]
    lines += _comment(indent, 'Task', hint['task'])
    lines += _comment(indent, 'Shapes', hint['shapes'])
    lines += _comment(indent, 'Hint', hint['hint'])
    lines.append('%s# Replace the raise below with your code.\n' % indent)
    lines.append('%sraise NotImplementedError(%r)\n'
                 % (indent, '%s: replace this TODO block with your code' % what))
    lines.append('%s# %s\n' % (indent, ' END OF TODO '.center(rule, '=')))
    return lines


def strip_text(text, keys, hints, whats, where):
    """text with every region replaced by its TODO block (key None: by nothing)."""
    lines = text.splitlines(keepends=True)
    regions = find_regions(lines, where)
    if len(regions) != len(keys):
        raise ReleaseError('%s: %d regions but %d keys' % (where, len(regions), len(keys)))
    out, pos = [], 0
    for (begin, end, ind), key, what in zip(regions, keys, whats):
        if key is None:
            out += lines[pos:begin]
            pos = end + 1
            continue
        if key not in hints:
            raise ReleaseError('%s:%d: no hint for %r: add a [%s] table to %s'
                               % (where, begin + 1, key, key, HINTS.relative_to(ROOT)))
        out += lines[pos:begin]
        block = todo_block(ind, key, hints[key], what)
        if not lines[end].endswith('\n'):  # a region at the very end of a cell
            block[-1] = block[-1].rstrip('\n')
        out += block
        pos = end + 1
    out += lines[pos:]
    return ''.join(out)


def find_todo_blocks(lines, where):
    blocks, start = [], None
    for i, line in enumerate(lines):
        if TODO_BEGIN.match(line):
            if start is not None:
                raise ReleaseError('%s:%d: TODO block inside another one' % (where, i + 1))
            start = i
        elif TODO_END.match(line):
            if start is None:
                raise ReleaseError('%s:%d: END OF TODO without a TODO' % (where, i + 1))
            blocks.append((start, i))
            start = None
    if start is not None:
        raise ReleaseError('%s:%d: TODO block never closed' % (where, start + 1))
    return blocks


def strip_markdown(text, where):
    """A markdown cell's text with its solution regions left out."""
    lines = text.splitlines(keepends=True)
    out, pos = [], 0
    for begin, end, _ in find_regions(lines, where, markdown=True):
        out += lines[pos:begin]
        pos = end + 1
    out += lines[pos:]
    return ''.join(out)


def restore_text(released, solution, where='<text>', dropped=(), markdown=False):
    """Put the solution regions of `solution` back into the TODO blocks of
    `released`, in order: the inverse of strip_text. `dropped`: the indices of
    the regions that the release left out; each goes back where the lines
    since the region before it say it was (markdown: every region)."""
    rel = released.splitlines(keepends=True)
    sol = solution.splitlines(keepends=True)
    regions = find_regions(sol, where, markdown)
    blocks = [] if markdown else find_todo_blocks(rel, where)
    dropped = set(range(len(regions))) if markdown else dropped
    if len(blocks) != len(regions) - len(dropped):
        raise ReleaseError('%s: %d TODO blocks but %d solution regions%s'
                           % (where, len(blocks), len(regions) - len(dropped),
                              ': is this a copy that a student filled in, not a release as written?'
                              if not blocks else ''))
    out, pos, after, blocks = [], 0, 0, iter(blocks)
    for k, (rb, re_, _) in enumerate(regions):
        if k in dropped:
            n = rb - after        # solution lines since the previous region, as many in the release
            out += rel[pos:pos + n] + sol[rb:re_ + 1]
            pos += n
        else:
            b, e = next(blocks)
            out += rel[pos:b] + sol[rb:re_ + 1]
            pos = e + 1
        after = re_ + 1
    out += rel[pos:]
    return ''.join(out)
