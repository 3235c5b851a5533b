"""The main job: execute every notebook headless and summarise the results.

    python -m cs231n.main [--out DIR] [NOTEBOOK ...]

Each notebook in notebooks/ runs from top to bottom on the offline set, also
when the COCO data has been fetched ($CS231N_COCO_DIR, when set, names another
dataset folder). The executed copies are written to
DIR (default out/executed, outside the sources); the notebooks themselves are
left untouched. The summary lists the checks that passed, the final training
losses and a few sampled captions. Exits 1 when any check fails.
"""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / 'notebooks'
ORDER = ['RNN_Captioning.ipynb', 'LSTM_Captioning.ipynb']

# Appended to each notebook copy: report what the notebook trained.
SUMMARY_CELL = r'''
import json as _json
import numpy as _np
from cs231n.captioning_solver import CaptioningSolver as _Solver
_out = {'losses': {}, 'samples': []}
for _name, _obj in list(globals().items()):
    if isinstance(_obj, _Solver) and _obj.loss_history and not _name.startswith('_'):
        _out['losses'][_name] = float(_obj.loss_history[-1])
_solvers = [(_n, _o) for _n, _o in globals().items() if isinstance(_o, _Solver) and not _n.startswith('_')]
if _solvers and 'data' in globals():
    _name, _s = max(_solvers, key=lambda kv: kv[1].data['train_captions'].shape[0])
    _rows = _np.arange(3)
    _caps = _s.model.sample(data['val_features'][_rows])
    _out['samples'] = ['%s: %s' % (_s.model.cell_type.upper(), c.replace('<END>', '').strip())
                       for c in decode_captions(_caps, data['idx_to_word'])]
print('SUMMARY ' + _json.dumps(_out))
'''


def stream_text(cell):
    return ''.join(o.get('text', '') for o in cell.get('outputs', [])
                   if o.get('output_type') == 'stream' and o.get('name') == 'stdout')


def _live_lines(cell, cell_index, execute_reply, total, show):
    """Progress while a notebook runs: its check and result lines as they come."""
    for line in stream_text(cell).splitlines():
        if re.match(r'^(PASS |NOTE: |validation BLEU|(rnn|lstm): .*validation loss)', line):
            show('  [cell %d/%d] %s' % (cell_index + 1, total, line))


def run_notebook(path, out_dir, timeout, show=print):
    """Execute one notebook; return a result dict (never raises for a failing cell).
    Every stored output is cleared first: what the copy holds ran now."""
    import shutil
    import tempfile
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.outputs, cell.execution_count = [], None
    total = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(SUMMARY_CELL))
    sockets = tempfile.mkdtemp(prefix='cs231n-kernel-')   # local sockets, not TCP ports
    # the async manager: with a blocking one the client neither applies the
    # timeout nor notices a kernel that died (and then waits for ever)
    km = AsyncKernelManager(kernel_name='python3', transport='ipc', ip=os.path.join(sockets, 'kernel'))
    hook = lambda cell, cell_index, execute_reply: _live_lines(cell, cell_index, execute_reply, total,
                                                               lambda line: show(line, flush=True))
    running = {'cell': '?'}      # the cell being run, for a timeout or a dead kernel

    def start(cell, cell_index):
        running['cell'] = '%d/%d' % (cell_index + 1, total)
    client = NotebookClient(nb, km=km, timeout=timeout, on_cell_executed=hook, on_cell_start=start,
                            resources={'metadata': {'path': str(path.parent)}})
    t0 = time.time()
    error = None
    # the kernel's own messages (not the cells' output, which comes through the client) go to a
    # log: an interrupt makes it print a traceback while it shuts down. Said when it dies.
    kernel_log = open(os.path.join(sockets, 'kernel.log'), 'w+b')
    try:
        # the offline set unless told otherwise (the notebooks' own default is COCO when fetched)
        from .coco_utils import ENV_VAR, OFFLINE_DIR
        # (a relative folder is meant from here, not from the notebook's folder the kernel runs in)
        given = os.environ.get(ENV_VAR)
        client.execute(env=dict(os.environ, **{ENV_VAR: os.path.abspath(given) if given else str(OFFLINE_DIR)}),
                       stderr=kernel_log)
    except CellExecutionError as e:
        plain = re.sub(r'\x1b\[[0-9;]*m', '', str(e))  # the traceback comes with colours
        lines = [l for l in plain.splitlines() if l.strip()]
        error = next((l for l in reversed(lines) if re.match(r'^\w*(Error|Exception)\b', l)), lines[-1])
    except CellTimeoutError:
        error = 'a cell ran longer than --timeout %d s (cell %s)' % (timeout, running['cell'])
    except DeadKernelError:
        kernel_log.seek(0)
        said = [l for l in kernel_log.read().decode('utf-8', 'replace').splitlines() if l.strip()]
        error = ('the kernel died in cell %s (out of memory, or a crash in compiled code): '
                 'nothing after it ran%s' % (running['cell'], '; its last words: ' + said[-1][:300] if said else ''))
    finally:   # the client leaves a kernel it did not start running
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        kernel_log.close()
        shutil.rmtree(sockets, ignore_errors=True)
    # Ctrl-C (or SIGTERM) while the client runs: its own handler shuts the kernel
    # down, which leaves this mark (the cell fails as if the kernel had died)
    interrupted = getattr(client, '_async_cleanup_kernel_future', None) is not None
    last = nb.cells.pop()   # the summary cell: not part of the notebook
    m = re.search(r'^SUMMARY (.*)$', stream_text(last), re.M) if last.cell_type == 'code' else None
    summary = json.loads(m.group(1)) if m else {}
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    text = '\n'.join(stream_text(c) for c in nb.cells if c.cell_type == 'code')
    dataset = next(iter(re.findall(r'^Loading .*$', text, re.M)), '')
    # the loader prints paths relative to the notebook's folder: say them from here
    dataset = re.sub(r'(?<= )(\.\./\S+)', lambda m: _from_here(path.parent / m.group(1)), dataset)
    from .coco_utils import ENV_VAR, OFFLINE_DIR
    if not os.environ.get(ENV_VAR):   # the job chose it, not the user
        dataset = dataset.replace('the dataset at %s (from $%s)' % (OFFLINE_DIR, ENV_VAR),
                                  'the offline set from %s (set %s to run on another dataset folder)'
                                  % (_from_here(OFFLINE_DIR), ENV_VAR))
    return {'name': path.name, 'seconds': time.time() - t0, 'error': error, 'interrupted': interrupted,
            'passed': re.findall(r'^PASS (.*?)(?::|$)', text, re.M),
            'bleu': re.findall(r'^validation (BLEU-1 .*)$', text, re.M),
            'compared': re.findall(r'^((?:rnn|lstm): .*validation loss .*)$', text, re.M),
            'notes': re.findall(r'^NOTE: (.*)$', text, re.M),
            'losses': summary.get('losses', {}), 'samples': summary.get('samples', []),
            'dataset': dataset}


def _from_here(p):
    p = os.path.normpath(p)
    rel = os.path.relpath(p)
    return p if rel.startswith(os.pardir) else rel


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=os.environ.get('CS231N_OUT', str(ROOT / 'out' / 'executed')),
                    help='folder for the executed copies (default: out/executed)')
    ap.add_argument('--timeout', type=int, default=600, help='seconds allowed per cell')
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: all, in order)')
    args = ap.parse_args(argv)
    paths = [Path(n) if os.sep in n else NOTEBOOKS / n for n in args.notebooks or ORDER]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print('No such notebook: %s (the notebooks: %s)' % (', '.join(missing), ', '.join(ORDER)), file=sys.stderr)
        return 2

    results = []
    for path in paths:
        print('Running %s ...' % path.name, flush=True)
        try:
            r = run_notebook(path, Path(args.out), args.timeout)
        except KeyboardInterrupt:
            r = {'interrupted': True}
        if r['interrupted']:
            partial = (' (%s there holds only the cells that ran)' % path.name) if 'name' in r else ''
            before = ('the executed copies of the notebooks before it are in %s%s' % (args.out, partial)
                      if results else 'its copy in %s holds only the cells that ran' % args.out
                      if partial else 'nothing was written')
            print('\nInterrupted while running %s (Ctrl-C or a stop signal): stopped. Run it again to start '
                  'over; %s.' % (path.name, before), file=sys.stderr)
            return 130
        results.append(r)
        status = 'FAILED: ' + r['error'] if r['error'] else 'ok'
        print('  %d checks passed, %.0f s, %s' % (len(r['passed']), r['seconds'], status), flush=True)

    print('\n' + '=' * 72 + '\nSummary\n' + '=' * 72)
    if results and results[0]['dataset']:
        print(results[0]['dataset'])
    for r in results:
        print('\n%s (%.0f s): %d checks passed%s' % (r['name'], r['seconds'], len(r['passed']),
                                                    '' if not r['error'] else ', then FAILED'))
        for p in r['passed']:
            print('  PASS', p)
        for n in r['notes']:
            print('  NOTE', n)
        if r['error']:
            print('  FAILED:', r['error'])
        for name, loss in r['losses'].items():
            print('  %s: training loss of the last minibatch %.3f' % (name, loss))
        for c in r['compared']:
            print('  trained side by side:', c)
        for b in r['bleu']:
            print('  validation', b)
        for s in r['samples']:
            print('  sampled (val):', s)
    # paths from the working directory (absolute when outside it)
    print('\nExecuted copies: %s' % _from_here(args.out))
    print('Open the suite in JupyterLab:  %s lab %s' % (_from_here(Path(sys.executable).parent / 'jupyter'),
                                                       _from_here(NOTEBOOKS) + os.sep))
    failed = [r['name'] for r in results if r['error']]
    if failed:
        print('\nFAILED: %s' % ', '.join(failed))
        return 1
    print('\nAll checks passed.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
