#!/usr/bin/env bash
# Make submission.zip, the file you hand in: your code (cs231n/, every .py file)
# and your executed notebooks (notebooks/*.ipynb). Nothing else goes in.
#
#     bash collect_submission.sh
#
# Before zipping it checks that the notebooks were run: every code cell run,
# in order, and no cell ending in an error. It warns when they were not (the
# zip is made anyway), and warns about TODO blocks still in cs231n/.
# The zip is the same, byte for byte, for the same files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PY=""
for candidate in .venv/bin/python python3 python; do
    if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
done
if [ -z "$PY" ]; then
    echo "collect: no Python found (run bash scripts/setup.sh first)" >&2
    exit 1
fi

exec "$PY" - "$@" <<'PYTHON'
import json
import os
import re
import sys
import zipfile
from pathlib import Path

OUT = Path('submission.zip')
NOTEBOOKS = ['notebooks/RNN_Captioning.ipynb', 'notebooks/LSTM_Captioning.ipynb']
MAX_BYTES = 20 * 1024 * 1024       # a notebook bigger than this has too many images in it
UNANSWERED = '*write it here*'     # what an inline question's answer cell holds until answered
warnings = []


TODO_HEADER = re.compile(r'^[ \t]*# =* TODO: (\S+) =*[ \t]*$', re.M)
TODO_END = re.compile(r'^[ \t]*# =* END OF TODO =*[ \t]*$', re.M)


def unfinished_todos(text):
    """The TODO blocks of text whose raise NotImplementedError line is still
    there, not commented out (a block whose raise was replaced or commented
    out is done, comments or not)."""
    left = []
    for m in TODO_HEADER.finditer(text):
        nxt = TODO_HEADER.search(text, m.end())
        end = TODO_END.search(text, m.end())
        stop = min(x.start() for x in (nxt, end) if x) if (nxt or end) else len(text)
        block = text[m.end():stop].splitlines()
        if any(line.lstrip().startswith('raise NotImplementedError(') for line in block):   # not a comment
            left.append(m.group(1))
    return left


def warn(msg):
    warnings.append(msg)
    print('WARNING: ' + msg)


def check_notebook(path):
    try:
        nb = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as e:
        warn('%s cannot be read as a notebook (%s)' % (path, e))
        return
    not_run, errors, counts = [], [], []
    number, section = 0, None
    for cell in nb.get('cells', []):
        source = ''.join(cell.get('source', []))
        if cell.get('cell_type') == 'markdown':
            titles = [line.lstrip('#').strip() for line in source.splitlines() if line.startswith('#')]
            answer = re.sub(r'^\s*\*\*Your answer:\*\*', '', source).replace(UNANSWERED, '')
            if 'inline-answer' in cell.get('metadata', {}).get('tags', []) and not answer.strip():
                warn('%s: the answer to "%s" is not written yet: double-click its cell and write it'
                     % (path, section))
            section = titles[-1] if titles else section
        if cell.get('cell_type') != 'code':
            continue
        number += 1
        if not source.strip():
            continue
        if unfinished_todos(source):
            warn('%s: code cell %d%s still has a TODO block' % (path, number, ', section "%s"' % section if section else ''))
        count = cell.get('execution_count')
        if count is None:
            not_run.append(number)
        else:
            counts.append(count)
        for out in cell.get('outputs', []):
            if out.get('output_type') == 'error':
                where = ', section "%s"' % section if section else ''
                errors.append('code cell %d%s (%s)' % (number, where, out.get('ename', 'error')))
    if not_run:
        warn('%s: %d code cell(s) never run (cells %s): run every cell before you collect'
             % (path, len(not_run), ', '.join(map(str, not_run[:10])) + (' ...' if len(not_run) > 10 else '')))
    if errors:
        warn('%s: cells that ended in an error: %s' % (path, ', '.join(errors[:10])))
    if counts != sorted(counts):
        warn('%s: the cells were not run from top to bottom: use "Restart Kernel and Run All Cells"' % path)
    if path.stat().st_size > MAX_BYTES:
        warn('%s is %.0f MB: clear big outputs (images) and save again' % (path, path.stat().st_size / 2**20))


def todo_left(path):
    return unfinished_todos(path.read_text(encoding='utf-8', errors='replace'))


files = []
code = sorted(p for p in Path('cs231n').rglob('*.py') if '__pycache__' not in p.parts)
if not code:
    print('collect: no cs231n/*.py here: run this script from the assignment folder', file=sys.stderr)
    sys.exit(1)
for p in code:
    left = todo_left(p)
    if left:
        warn('%s still has TODO blocks: %s' % (p, ', '.join(left)))
    files.append(p)
for name in NOTEBOOKS:
    p = Path(name)
    if not p.is_file():
        warn('%s is missing' % name)
        continue
    check_notebook(p)
    files.append(p)

tmp = OUT.with_name(OUT.name + '.tmp')
with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
    for p in sorted(files, key=lambda p: p.as_posix()):
        info = zipfile.ZipInfo(p.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        z.writestr(info, p.read_bytes())
os.replace(tmp, OUT)

print('collect: wrote %s with %d files:' % (OUT.resolve(), len(files)))
for p in sorted(files, key=lambda p: p.as_posix()):
    print('  ' + p.as_posix())
if warnings:
    print('collect: %d warning(s) above: fix them and run this script again before you hand in.'
          % len(warnings))
else:
    print('collect: all notebooks were run without errors. Hand in %s.' % OUT.resolve())
PYTHON
