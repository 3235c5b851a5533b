"""Build the notebooks from their sources in notebooks/src/, and execute them.

    python tools/build_notebooks.py             # build and execute every notebook
    python tools/build_notebooks.py --no-execute
    python tools/build_notebooks.py --check     # exit 1 if a notebook differs from its source

A source is a Python file split into cells by lines starting with `# %%`:

    # %% [markdown]
    # Text of a markdown cell, each line behind '# '.
    # %% tags=["nbval-ignore-output"]
    code of a code cell with cell tags

The executed notebooks store their outputs: nbval compares against them.
"""
import argparse
import json
import re
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / 'notebooks' / 'src'
OUT = ROOT / 'notebooks'
NOTEBOOKS = {'rnn_captioning.py': 'RNN_Captioning.ipynb',
             'lstm_captioning.py': 'LSTM_Captioning.ipynb',
             'caption_explorer.py': 'Caption_Explorer.ipynb'}
HEADER = re.compile(r'^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$')


def parse(text):
    """Split a source into (kind, tags, source) cells."""
    cells, cur = [], None
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            cur = ['markdown' if m.group('md') else 'code',
                   json.loads(m.group('tags')) if m.group('tags') else [], []]
            cells.append(cur)
        elif cur is not None:
            if cur[0] == 'markdown':
                line = line[2:] if line.startswith('# ') else line.lstrip('#')
            cur[2].append(line)
    return [(kind, tags, '\n'.join(lines).strip('\n')) for kind, tags, lines in cells]


def build(src_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb.metadata['language_info'] = {'name': 'python'}
    for i, (kind, tags, source) in enumerate(parse(src_path.read_text())):
        make = nbformat.v4.new_markdown_cell if kind == 'markdown' else nbformat.v4.new_code_cell
        cell = make(source)
        cell['id'] = '%s-%03d' % (src_path.stem.split('_')[0], i)  # stable ids: clean diffs
        if tags:
            cell.metadata['tags'] = tags
        nb.cells.append(cell)
    return nb


def execute(nb, timeout=600):
    from nbclient import NotebookClient
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3',
                            resources={'metadata': {'path': str(OUT)}})
    client.execute()
    for cell in nb.cells:  # volatile: execution times, where a stream was cut in two
        cell.metadata.pop('execution', None)
        if cell.cell_type == 'code':
            cell.outputs = coalesce_streams(cell.outputs)
    return stable_widget_ids(nb)


def coalesce_streams(outputs):
    """Join consecutive outputs of the same stream (stdout, stderr) into one."""
    joined = []
    for out in outputs:
        if (out.output_type == 'stream' and joined and joined[-1].output_type == 'stream'
                and joined[-1].name == out.name):
            joined[-1].text += out.text
        else:
            joined.append(out)
    return joined


def stable_widget_ids(nb):
    """Renumber the widget models (random uuids) in the order they are reached from the
    displayed widgets, children in the order they are named: a rebuild gives the same file."""
    state = nb.metadata.get('widgets', {}).get('application/vnd.jupyter.widget-state+json', {})
    models = state.get('state', {})
    if not models:
        return nb
    ref = re.compile(r'IPY_MODEL_([0-9a-f]{32})')
    views = [out.get('data', {}).get('application/vnd.jupyter.widget-view+json', {}).get('model_id')
             for cell in nb.cells for out in cell.get('outputs', [])]
    order, todo = [], [v for v in views if v in models][::-1]
    while todo:
        mid = todo.pop()
        if mid in order:
            continue
        order.append(mid)
        named = ref.findall(json.dumps(models[mid].get('state', {}), sort_keys=True))
        todo.extend(m for m in named[::-1] if m in models)
    order += [m for m in models if m not in order]  # never displayed: as saved
    new = {old: '%032x' % (i + 1) for i, old in enumerate(order)}
    pattern = re.compile('|'.join(map(re.escape, order)))
    text = pattern.sub(lambda m: new[m.group(0)], nbformat.writes(nb))
    return nbformat.reads(text, as_version=4)


def sources(nb):
    return [(c.cell_type, c.metadata.get('tags', []), c.source) for c in nb.cells]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='only compare notebooks with sources')
    ap.add_argument('--no-execute', action='store_true')
    ap.add_argument('names', nargs='*', help='source files to build (default: all)')
    args = ap.parse_args(argv)
    bad = 0
    for src_name, nb_name in NOTEBOOKS.items():
        if args.names and src_name not in args.names and nb_name not in args.names:
            continue
        nb = build(SRC / src_name)
        target = OUT / nb_name
        if args.check:
            if not target.exists() or sources(nbformat.read(target, as_version=4)) != sources(nb):
                print('%s differs from %s: run python tools/build_notebooks.py' % (target, SRC / src_name))
                bad += 1
            continue
        if not args.no_execute:
            t0 = time.time()
            print('executing %s ...' % nb_name, flush=True)
            nb = execute(nb)
            print('  done in %.0f s' % (time.time() - t0))
        nbformat.write(nb, target)
        print('wrote %s' % target)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
