"""The student release (tools/release.py): no solution code in it, every student
function raises NotImplementedError and nothing else fails, the notebooks run
up to the student parts, putting the solution back gives the solution files,
and two builds are byte-identical."""
import ast
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(REPO / 'tools'))
import release  # noqa: E402


def _tree(root):
    """{relative path: (bytes, mode)} of every file under root."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(root.rglob('*')) if p.is_file()}


def _build(out):
    proc = subprocess.run([PY, str(REPO / 'tools' / 'release.py'), str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    return _build(tmp_path_factory.mktemp('rel') / 'one'), _build(tmp_path_factory.mktemp('rel') / 'two')


@pytest.fixture(scope='module')
def rel(built):
    return built[0]


def test_two_builds_are_identical(built):
    a, b = _tree(built[0]), _tree(built[1])
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name


def test_layout_student_files_only(rel):
    files = set(_tree(rel))
    for needed in ['README.md', 'collect_submission.sh', 'get_datasets.sh', 'scripts/setup.sh',
                   'pyproject.toml', 'environment.yml', 'cs231n/rnn_layers.py', 'cs231n/classifiers/rnn.py',
                   'notebooks/RNN_Captioning.ipynb', 'notebooks/LSTM_Captioning.ipynb']:
        assert needed in files
    for f in files:
        assert not f.startswith(('grading/', 'tools/', 'tests/', 'benchmarks/', 'notebooks/src/', '.ci/')), f
        assert '__pycache__' not in f
    assert (rel / 'README.md').read_text() == (REPO / 'grading' / 'student_README.md').read_text()
    assert os.access(rel / 'collect_submission.sh', os.X_OK)
    if (REPO / 'datasets' / 'README.md').is_file():
        assert 'datasets/README.md' in files


def test_student_setup_installs_what_the_notebooks_need_only(rel, tmp_path):
    """The release has no tests: its setup.sh installs the package without the
    test extras, and neither PyTorch nor Chromium (run here with a stand-in
    python that records its calls, so nothing is installed)."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    log = tmp_path / 'calls.txt'
    shim = venv / 'bin' / 'python'
    shim.write_text('#!/bin/sh\necho "$*" >> %s\ncase "$*" in *"import torch"*) exit 1;; esac\nexit 0\n' % log)
    shim.chmod(0o755)
    env = dict(os.environ, CS231N_VENV=str(venv))
    proc = subprocess.run(['bash', 'scripts/setup.sh'], cwd=rel, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text().splitlines()
    installs = [c for c in calls if c.startswith('-m pip install')]
    assert installs and all(c.endswith(' -e .') for c in installs), calls
    assert not any('torch' in c for c in calls), calls
    assert 'PyTorch' not in proc.stdout and 'Chromium' not in proc.stdout and 'browser' not in proc.stdout


def test_no_line_of_solution_code_in_the_release(rel):
    # every non-trivial line of every marked region, that is not also given code
    lines = release.solution_lines()
    assert len(lines) > 100
    for name, (data, _) in _tree(rel).items():
        text = data.decode('utf-8')
        assert 'BEGIN SOLUTION' not in text and 'END SOLUTION' not in text, name
        for i, line in enumerate(release.released_lines(name, data)):
            leaked = release.scan_candidates(line) & lines
            assert not leaked, '%s line %d: %r' % (name, i + 1, line)


def test_model_answers_stay_in_the_instructors_notebooks(rel):
    """The inline questions' model answers (markdown solution regions) are in
    the solution notebooks and nowhere in the release, whose answer cells are
    the bare placeholder; verify puts them back (test_restoring_...)."""
    for name in ['RNN_Captioning.ipynb', 'LSTM_Captioning.ipynb']:
        sol = release.solution_notebooks()[name]
        cells = [c for c in sol.cells if 'inline-answer' in c.metadata.get('tags', [])]
        released = json.loads((rel / 'notebooks' / name).read_text())['cells']
        placeholders = [''.join(c['source']) for c in released if 'inline-answer' in c['metadata'].get('tags', [])]
        assert len(cells) == 1 and len(placeholders) == 1, name
        assert '<!-- BEGIN SOLUTION -->\n**Model answer**' in cells[0].source, name
        model = cells[0].source.split('<!-- BEGIN SOLUTION -->')[1].split('<!-- END SOLUTION -->')[0]
        assert len(model) > 300, name
        assert placeholders == ['**Your answer:** *write it here*\n'], name
        text = (rel / 'notebooks' / name).read_text()
        assert 'Model answer' not in text and 'exploding' not in text and 'five times' not in text, name


def test_markdown_regions_are_dropped_and_restored():
    md = 'Q?\n\n**Your answer:** *write it here*\n<!-- BEGIN SOLUTION -->\nIt is 42.\n<!-- END SOLUTION -->\nend'
    student = release.strip_markdown(md, 'cell')
    assert student == 'Q?\n\n**Your answer:** *write it here*\nend'
    assert release.restore_text(student, md, 'cell', markdown=True) == md
    for bad in ['a\n<!-- BEGIN SOLUTION -->\nb', 'a <!-- BEGIN SOLUTION -->\nb\n<!-- END SOLUTION -->',
                'a\n### BEGIN SOLUTION\nb\n### END SOLUTION']:
        with pytest.raises(release.ReleaseError):
            release.strip_markdown(bad, 'cell')
    # and the code markers stay code markers: a code cell with HTML markers is refused
    code = 'x = 1\n<!-- BEGIN SOLUTION -->\ny = 2\n<!-- END SOLUTION -->\n'
    with pytest.raises(release.ReleaseError, match='alone on its line'):
        release.find_regions(code.splitlines(keepends=True), 'cell')


def test_top_level_solution_code_stays_out(rel):
    """The solution's own helpers (a region at the top level of rnn_fast.py:
    the fast sequence layers) are not in the release, not even by name, and a
    line of them in a hint is refused like any other solution line."""
    text = (REPO / 'cs231n' / 'rnn_fast.py').read_text()
    regions = release.find_regions(text.splitlines(keepends=True), 'rnn_fast.py')
    keys = release.python_keys(text, regions, 'rnn_fast.py')
    (b, e, _), = [r for r, k in zip(regions, keys) if k is None]
    top = ''.join(text.splitlines(keepends=True)[b:e + 1])
    names = re.findall(r'^def (\w+)', top, flags=re.M)
    assert {'_lstm_forward', '_lstm_backward', '_rnn_forward', '_rnn_backward'} <= set(names)
    released = (rel / 'cs231n' / 'rnn_fast.py').read_text()
    body = ast.parse(released).body                    # nothing but its docstring
    assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    assert (rel / 'cs231n' / 'rnn_layers.py').read_text().endswith('    return loss, dx\n')
    for path in rel.rglob('*.py'):
        for name in names:
            assert name not in path.read_text(), (path, name)
    lines = release.solution_lines()
    leak = min((release.normalize(l) for l in top.splitlines()
                if release.normalize(l) in lines and 25 <= len(release.normalize(l)) <= 60), key=len)
    hints = release.load_hints()
    hints['lstm_forward'] = dict(hints['lstm_forward'], hint=leak)
    with pytest.raises(release.ReleaseError, match='solution code'):
        release.release_files(hints=hints, warn=lambda m: None)


TOP_LEVEL = textwrap.dedent('''\
    def f(x):
        """Twice x."""
        ### BEGIN SOLUTION
        y = _twice(x)
        ### END SOLUTION
        return y


    def g(x):
        return x
    ### BEGIN SOLUTION


    def _twice(x):
        return 2 * x
    ### END SOLUTION


    def h(x):
        ### BEGIN SOLUTION
        y = _twice(_twice(x))
        ### END SOLUTION
        return y
    ''')


def test_a_top_level_region_is_dropped_and_restored():
    hints = {k: {'task': 'do it', 'shapes': 'x', 'hint': 'think'} for k in ('f', 'h')}
    student, keys = release.student_python('m.py', TOP_LEVEL, hints)
    assert keys == ['f', 'h']
    assert '_twice' not in student and student.count('raise NotImplementedError') == 2
    assert 'def g(x):\n    return x\n\n\ndef h(x):' in student
    release.find_regions(TOP_LEVEL.splitlines(keepends=True), 'm.py')   # the markers parse
    assert release.restore_text(student, TOP_LEVEL, 'm.py', dropped={1}) == TOP_LEVEL
    inside_class = TOP_LEVEL.replace('### BEGIN SOLUTION\n\n\ndef _twice(x):\n    return 2 * x\n### END SOLUTION',
                                     'class C:\n    ### BEGIN SOLUTION\n    def _twice(x):\n'
                                     '        return 2 * x\n    ### END SOLUTION')
    half_a_function = TOP_LEVEL.replace('    return 2 * x\n### END SOLUTION', '### END SOLUTION\n    return 2 * x')
    for bad in [inside_class, half_a_function]:
        assert bad != TOP_LEVEL
        with pytest.raises(release.ReleaseError):
            release.student_python('m.py', bad, hints)


def test_a_hint_that_leaks_solution_code_is_refused():
    leak = min((l for l in release.solution_lines() if 12 <= len(l) <= 50), key=len)
    hints = release.load_hints()
    hints['rnn_step_forward'] = dict(hints['rnn_step_forward'], hint=leak)
    with pytest.raises(release.ReleaseError, match='solution code'):
        release.release_files(hints=hints, warn=lambda m: None)


def _functions(tree):
    out = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef):
                out[prefix + child.name] = child
            if isinstance(child, (ast.ClassDef, ast.FunctionDef)):
                visit(child, prefix + child.name + '.')
    visit(tree, '')
    return out


@pytest.mark.parametrize('path', ['cs231n/rnn_layers.py', 'cs231n/rnn_fast.py', 'cs231n/classifiers/rnn.py'])
def test_todo_blocks_keep_docstrings_returns_and_indentation(rel, path):
    text = (rel / path).read_text()
    solution = (REPO / path).read_text()
    released, original = _functions(ast.parse(text)), _functions(ast.parse(solution))
    regions = release.find_regions(solution.splitlines(True), path)
    keys = release.python_keys(solution, regions, path)
    # every function is still there, but those of the solution's top-level regions
    dropped = {name for name, f in original.items() for (b, e, _), k in zip(regions, keys)
               if k is None and b < f.lineno <= e + 1}
    assert sorted(released) == sorted(set(original) - dropped)
    assert dropped or path != 'cs231n/rnn_fast.py'
    keys = [k for k in keys if k is not None]
    for key in keys:
        fr, fo = released[key], original[key]
        assert ast.get_docstring(fr) == ast.get_docstring(fo), key
        assert ast.dump(fr.body[-1]) == ast.dump(fo.body[-1]) and isinstance(fr.body[-1], ast.Return), key
        raises = [n for n in ast.walk(fr) if isinstance(n, ast.Raise)
                  and isinstance(n.exc, ast.Call) and getattr(n.exc.func, 'id', '') == 'NotImplementedError']
        assert len(raises) == 1, key
        message = raises[0].exc.args[0].value
        assert message.startswith('%s in %s: ' % (key, path)), message
        # the block is indented like the function body it replaces
        line = text.splitlines()[raises[0].lineno - 1]
        assert raises[0].col_offset == fr.body[-1].col_offset and line.lstrip().startswith('raise')
        before = text.splitlines()[:raises[0].lineno]
        header = max(i for i, l in enumerate(before) if ' TODO: %s ' % key in l)
        block = before[header:]
        assert all(l.startswith(line[:raises[0].col_offset] + '#') for l in block[:-1]), key
        labels = [l.strip().split(':')[0] for l in block if l.strip().startswith(('# Task:', '# Shapes:', '# Hint:'))]
        assert labels == ['# Task', '# Shapes', '# Hint'], key
    # outside the functions with regions, nothing changed
    for name in set(original) - set(keys) - dropped:
        assert ast.dump(released[name]) == ast.dump(original[name]), name


def test_verify_of_a_folder_that_is_no_release_says_so(tmp_path, rel):
    for folder in (tmp_path / 'nowhere', tmp_path):
        with pytest.raises(release.ReleaseError, match='is not a student version'):
            release.verify(folder)
    partial = tmp_path / 'partial'
    shutil.copytree(rel / 'cs231n', partial / 'cs231n')
    (partial / 'cs231n' / 'rnn_layers.py').unlink()
    with pytest.raises(release.ReleaseError, match='lacks .*rnn_layers.py'):
        release.verify(partial)
    shutil.copytree(rel / 'cs231n', partial / 'cs231n', dirs_exist_ok=True)
    problems = release.verify(partial)
    nbs = ['notebooks/%s: missing' % n for n in release.solution_notebooks()]
    assert problems[:len(nbs)] == nbs and 'README.md: missing (a fresh release has it)' in problems


def test_verify_of_a_filled_in_copy_says_so(tmp_path, rel):
    copy = tmp_path / 'filled'
    shutil.copytree(rel, copy)
    shutil.copy(REPO / 'cs231n' / 'rnn_layers.py', copy / 'cs231n' / 'rnn_layers.py')   # the student's work
    with pytest.raises(release.ReleaseError, match=r'rnn_layers.py: 0 TODO blocks but \d+ solution regions: is '
                                                   r'this a copy that a student filled in'):
        release.verify(copy)


def test_verify_finds_every_changed_missing_or_extra_file(tmp_path, rel):
    copy = tmp_path / 'copy'
    shutil.copytree(rel, copy)
    with open(copy / 'cs231n' / 'optim.py', 'a') as f:
        f.write('# edited\n')
    (copy / 'README.md').unlink()
    (copy / 'cs231n' / 'extra.py').write_text('x = 1\n')
    (copy / 'cs231n' / '__pycache__').mkdir(exist_ok=True)
    (copy / 'cs231n' / '__pycache__' / 'optim.cpython-311.pyc').write_bytes(b'\0')   # not compared
    assert sorted(release.verify(copy)) == ['README.md: missing (a fresh release has it)',
                                            'cs231n/extra.py: not in a fresh release',
                                            'cs231n/optim.py: differs from a fresh release']


def test_restoring_the_solution_gives_the_solution_files(rel):
    assert release.verify(rel) == []
    restored = release.restore_release(rel)
    assert set(restored) == {'cs231n/rnn_layers.py', 'cs231n/rnn_fast.py', 'cs231n/classifiers/rnn.py'}
    for name, text in restored.items():
        assert text == (REPO / name).read_text(), name
    # files without regions are copied as they are
    assert (rel / 'cs231n' / 'optim.py').read_bytes() == (REPO / 'cs231n' / 'optim.py').read_bytes()


STUDENT_CALLS = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import cs231n
    assert cs231n.__file__.startswith(sys.argv[1]), cs231n.__file__
    import cs231n.rnn_layers as L
    from cs231n.classifiers.rnn import CaptioningRNN
    r = np.random.RandomState(0)
    N, T, D, H, V = 2, 3, 4, 5, 6
    x, h, c, x3 = r.randn(N, D), r.randn(N, H), r.randn(N, H), r.randn(N, T, D)
    calls = {
        'rnn_step_forward': lambda: L.rnn_step_forward(x, h, r.randn(D, H), r.randn(H, H), r.randn(H)),
        'rnn_step_backward': lambda: L.rnn_step_backward(r.randn(N, H), None),
        'rnn_forward': lambda: L.rnn_forward(x3, h, r.randn(D, H), r.randn(H, H), r.randn(H)),
        'rnn_backward': lambda: L.rnn_backward(r.randn(N, T, H), None),
        'word_embedding_forward': lambda: L.word_embedding_forward(r.randint(V, size=(N, T)), r.randn(V, D)),
        'word_embedding_backward': lambda: L.word_embedding_backward(r.randn(N, T, D), None),
        'lstm_step_forward': lambda: L.lstm_step_forward(x, h, c, r.randn(D, 4 * H), r.randn(H, 4 * H), r.randn(4 * H)),
        'lstm_step_backward': lambda: L.lstm_step_backward(r.randn(N, H), r.randn(N, H), None),
        'lstm_forward': lambda: L.lstm_forward(x3, h, r.randn(D, 4 * H), r.randn(H, 4 * H), r.randn(4 * H)),
        'lstm_backward': lambda: L.lstm_backward(r.randn(N, T, H), None),
    }
    w2i = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'cat': 3}
    results = {}
    for cell in ['rnn', 'lstm']:
        model = CaptioningRNN(w2i, input_dim=D, wordvec_dim=3, hidden_dim=H, cell_type=cell)   # given: works
        calls['CaptioningRNN.loss/' + cell] = lambda m=model: m.loss(r.randn(N, D), np.array([[1, 3, 2], [1, 2, 0]]))
        calls['CaptioningRNN.sample/' + cell] = lambda m=model: m.sample(r.randn(N, D), max_length=4)
    for name, call in calls.items():
        try:
            call()
            results[name] = 'no error'
        except NotImplementedError as e:
            results[name] = 'NotImplementedError: ' + str(e)
        except Exception as e:
            results[name] = '%s: %s' % (type(e).__name__, e)
    # the given code works
    out, cache = L.temporal_affine_forward(x3, r.randn(D, V), r.randn(V))
    dx, dw, db = L.temporal_affine_backward(r.randn(*out.shape), cache)
    loss, dscores = L.temporal_softmax_loss(out, r.randint(V, size=(N, T)), np.ones((N, T), bool))
    s = L.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    results['given'] = 'ok' if dx.shape == x3.shape and np.isfinite(loss) and list(s) == [0.0, 0.5, 1.0] else 'broken'
    print(json.dumps(results))
''')


def test_every_student_function_raises_not_implemented(rel):
    proc = subprocess.run([PY, '-c', STUDENT_CALLS, str(rel)], capture_output=True, text=True,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert results.pop('given') == 'ok'
    _, keys = release.release_files(warn=lambda m: None)
    functions = {k for k in keys if '.ipynb:' not in k}
    assert {k.split('/')[0] for k in results} == functions   # a new region needs a call here
    for name, outcome in results.items():
        fn = name.split('/')[0]
        path = 'cs231n/classifiers/rnn.py' if fn.startswith('CaptioningRNN') else 'cs231n/rnn_layers.py'
        assert outcome.startswith('NotImplementedError: %s in %s' % (fn, path)), (name, outcome)


# ------------------------------------------------------------- the notebooks

STUDENT_CODE = re.compile(r'\b(rnn_step_forward|rnn_step_backward|rnn_forward|rnn_backward|'
                          r'word_embedding_forward|word_embedding_backward|lstm_step_forward|'
                          r'lstm_step_backward|lstm_forward|lstm_backward)\(|\.loss\(|\.sample\(|\.train\(\)'
                          r'|evaluate_bleu\(|model_gradient_errors\(|check_tiny_sample\('
                          r'|# =+ TODO: ')


@pytest.mark.parametrize('name', ['RNN_Captioning.ipynb', 'LSTM_Captioning.ipynb'])
def test_released_notebooks_fail_only_at_student_parts(rel, name, coco_mini, monkeypatch):
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    monkeypatch.setenv('CS231N_COCO_DIR', str(coco_mini))
    monkeypatch.setenv('PYTHONPATH', str(rel))          # the released package, not the solution
    monkeypatch.setenv('OPENBLAS_NUM_THREADS', '1')
    nb = nbformat.read(rel / 'notebooks' / name, as_version=4)
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == 'code')
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name='python3', allow_errors=True,
                                     resources={'metadata': {'path': str(rel / 'notebooks')}})
    client.execute()
    seen = {'ok': 0, 'NotImplementedError': 0}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != 'code':
            continue
        errors = [o for o in cell.outputs if o.output_type == 'error']
        err = errors[0].ename if errors else None
        if STUDENT_CODE.search(cell.source):
            # a check of a student part, a training run or a sampling cell
            assert err == 'NotImplementedError', (i, err, cell.source[:300])
            assert 'replace this TODO block' in errors[0].evalue
            seen['NotImplementedError'] += 1
        elif 'loss_history[-1]' in cell.source or 'CaptionExplorer(' in cell.source:
            # reads the loss history of the training run above (or opens the explorer on
            # its model), which could not run, and says so
            assert err == 'AssertionError' and re.search(r'(training above did not run|LSTM above was not '
                                                         r'trained): fix the error it stopped with first',
                                                         errors[0].evalue), (i, err)
        else:
            assert err is None, (i, errors and errors[0].evalue, cell.source[:300])
            seen['ok'] += 1
    assert seen['ok'] >= 2 and seen['NotImplementedError'] >= 6, seen
    # the released package ran, not the solution installed in this environment, and the setup cell says nothing
    setup = next(c for c in nb.cells if c.cell_type == 'code' and 'check_location' in c.source)
    assert not any('WARNING' in o.get('text', '') for o in setup.outputs), setup.outputs


def test_hidden_and_visible_checks_of_the_release_all_fail_not_implemented(rel, tmp_path):
    out = tmp_path / 'grades.csv'
    proc = subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), str(rel), '--out', str(out), '--jobs', '1',
                           '--quiet'], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (student,) = json.loads(out.with_suffix('.json').read_text())['students']
    assert student['total'] == 0 and len(student['checks']) >= 30
    hidden = [k for k in student['checks'] if '/hidden:' in k]
    assert len(hidden) >= 16
    for name, check in student['checks'].items():
        assert not check['ok'] and check['reason'].startswith('NotImplementedError: '), (name, check['reason'])


def test_release_refuses_to_overwrite(rel, tmp_path):
    proc = subprocess.run([PY, str(REPO / 'tools' / 'release.py'), str(rel)], capture_output=True, text=True)
    assert proc.returncode == 1 and 'not empty' in proc.stderr
    proc = subprocess.run([PY, str(REPO / 'tools' / 'release.py'), str(REPO / 'cs231n' / 'x')],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and 'inside the source folder' in proc.stderr


def _release(*args):
    return subprocess.run([PY, str(REPO / 'tools' / 'release.py'), *map(str, args)], capture_output=True, text=True)


def test_force_replaces_an_earlier_release_and_keeps_its_git_history(rel, tmp_path):
    out = tmp_path / 'handout'
    shutil.copytree(rel, out)
    (out / '.git').mkdir()
    (out / '.git' / 'HEAD').write_text('ref: refs/heads/main\n')
    (out / 'stale.txt').write_text('from an older release')     # listed by that release
    manifest = json.loads((out / '.release-files.json').read_text())
    manifest['files']['stale.txt'] = hashlib.sha256(b'from an older release').hexdigest()
    (out / '.release-files.json').write_text(json.dumps(manifest))
    (out / '.venv' / 'bin').mkdir(parents=True)                   # what running it made
    (out / 'datasets' / 'offline_captioning').mkdir()
    (out / 'cs231n' / '__pycache__').mkdir()
    (out / 'cs231n' / '__pycache__' / 'rnn_layers.cpython-311.pyc').write_bytes(b'x')
    proc = _release(out, '--force')
    assert proc.returncode == 0, proc.stderr
    assert 'also removing what running the earlier release made: .venv/, datasets/offline_captioning/' in proc.stderr
    assert (out / '.git' / 'HEAD').read_text() == 'ref: refs/heads/main\n'
    assert not (out / 'stale.txt').exists() and not (out / '.venv').exists()
    got = _tree(out)
    del got['.git/HEAD']
    assert got == _tree(rel)
    # a folder holding only a .git needs no --force
    fresh = tmp_path / 'fresh'
    (fresh / '.git').mkdir(parents=True)
    assert _release(fresh).returncode == 0 and (fresh / 'collect_submission.sh').is_file()


def test_force_refuses_a_release_someone_worked_in_and_removes_nothing(rel, tmp_path):
    out = tmp_path / 'working-copy'
    shutil.copytree(rel, out)
    (out / 'cs231n' / 'rnn_layers.py').write_text('filled in')
    (out / 'submission.zip').write_bytes(b'PK')
    (out / 'notes.txt').write_text('mine')
    before = _tree(out)
    proc = _release(out, '--force')
    assert proc.returncode == 1, proc.stderr
    assert ('holds files that are not the earlier release as written: cs231n/rnn_layers.py (changed since the '
            'release), notes.txt (not part of the release), submission.zip (not part of the release). '
            'Nothing was removed') in proc.stderr
    assert _tree(out) == before
    # a release from before the manifest: replaced whole, and said so
    (out / '.release-files.json').unlink()
    proc = _release(out, '--force')
    assert proc.returncode == 0 and 'has no .release-files.json' in proc.stderr
    assert _tree(out) == _tree(rel)


def test_force_refuses_a_folder_that_is_no_release_and_a_file(tmp_path):
    other = tmp_path / 'thesis'
    (other / 'chapters').mkdir(parents=True)
    (other / 'chapters' / 'one.tex').write_text('mine')
    (other / 'notes.txt').write_text('mine too')
    proc = _release(other, '--force')
    assert proc.returncode == 1 and 'is not an earlier release' in proc.stderr and 'nothing was removed' in proc.stderr
    assert sorted(p.relative_to(other).as_posix() for p in other.rglob('*')) == [
        'chapters', 'chapters/one.tex', 'notes.txt']
    a_file = tmp_path / 'notes.md'
    a_file.write_text('x')
    proc = _release(a_file)
    assert proc.returncode == 1 and 'is a file' in proc.stderr and 'Traceback' not in proc.stderr
    proc = _release(a_file / 'sub')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr
