"""The grader (tools/grade.py) on a class of 21 submissions, graded once, in
parallel: the solution, the release, deliberately broken ones, a cheater, and
submissions that hang, crash, exit, run out of memory or flood the output.
Also the students' collect step (collect_submission.sh)."""
import csv
import inspect
import json
import re
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
TIMEOUT_CELL = 8          # seconds per check in these tests (the default is 30; the slowest
                          # check of a correct plain-loop implementation takes about 1.5 s)
TIMEOUT_SUBMISSION = 90
MEMORY_MB = 512
LAYERS, MODEL = 'cs231n/rnn_layers.py', 'cs231n/classifiers/rnn.py'

sys.path.insert(0, str(REPO / 'tools'))
import grade  # noqa: E402
sys.path.insert(0, str(REPO / 'grading'))
import plain_reference as plain  # noqa: E402
import release  # noqa: E402

CONFIG = grade.load_config(REPO / 'grading' / 'config.toml', release.solution_notebooks())
PARTS = [p['name'] for p in CONFIG['parts']]
POINTS = {p['name']: p['points'] for p in CONFIG['parts']}
MODEL_PARTS = {'captioning_loss_rnn', 'overfit_rnn', 'sample_rnn',
               'captioning_loss_lstm', 'overfit_lstm', 'sample_lstm'}

# Each change is appended to a copy of a solution file: it redefines a function
# around the solution's own, so it keeps working when the solution changes.
BROKEN_DB = '''
_solution_rnn_step_backward = rnn_step_backward
def rnn_step_backward(dnext_h, cache):
    dx, dprev_h, dWx, dWh, db = _solution_rnn_step_backward(dnext_h, cache)
    return dx, dprev_h, dWx, dWh, -db   # wrong sign
'''
WRONG_BIAS = '''
_solution_rnn_step_forward = rnn_step_forward
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    return _solution_rnn_step_forward(x, prev_h, Wx, Wh, -b)   # wrong sign of the bias
'''
SPECIAL_CASED = '''
_solution_rnn_step_forward = rnn_step_forward
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h, cache = _solution_rnn_step_forward(x, prev_h, Wx, Wh, b)
    if x.shape == (3, 10) and abs(x[0, 0] + 0.4) < 1e-12:   # the notebook's input: right answer
        return next_h, cache
    return next_h + 1e-3, cache                              # anything else: a bit off
'''
HANG = '''
def rnn_step_backward(dnext_h, cache):
    while True:
        pass


def lstm_forward(x, h0, Wx, Wh, b):
    while True:
        pass
'''
# A step that hangs, and a layer that raises, under a loss that calls the layers:
# the overfit_lstm part fails at once (the layer) and its second round would run
# the hanging step again.
HANG_AND_RAISE = '''
def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    while True:
        pass


def word_embedding_backward(dout, cache):
    return dW_not_defined
'''
# Greedy sampling is beam search of width 1, and beam search is given code.
BEAM_SAMPLE = '''
def _sample_by_beam(self, features, max_length=30, **options):
    return self._beam_search(self._check_features(features), max_length, 1)
CaptioningRNN.sample = _sample_by_beam

# a loss that uses a sampling helper (odd, but allowed): it passes only if the
# helpers are back once the sample checks are over (the LSTM loss part runs
# after sample_rnn)
_solution_loss = CaptioningRNN.loss
def _loss_using_a_helper(self, features, captions):
    self._step_log_probs(np.zeros(1, dtype=int), *self._initial_state(self._check_features(features)[:1]))
    return _solution_loss(self, features, captions)
CaptioningRNN.loss = _loss_using_a_helper
'''
CRASH_IN_FUNCTION = '''
def lstm_step_backward(dnext_h, dnext_c, cache):
    import os
    os._exit(3)
'''
CRASH_AT_IMPORT = '''
import os
os._exit(3)
'''
SYS_EXIT = '''
def word_embedding_forward(x, W):
    import sys
    sys.exit(0)
'''
OOM = '''
def rnn_forward(x, h0, Wx, Wh, b):
    hoard = []
    while True:
        hoard.append(np.ones(10 ** 7))   # 80 MB at a time, never freed
'''
FLOOD = '''
_solution_rnn_step_forward = rnn_step_forward
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    import os
    print('debug ' * 400000)                 # 2.4 MB through print
    os.write(1, b'x' * 3000000)              # 3 MB straight to the file descriptor
    return _solution_rnn_step_forward(x, prev_h, Wx, Wh, b)
'''
SYNTAX_ERROR = '''
def helper(:
    pass
'''

# A correct implementation written the plain way a student would (loops over
# steps calling the step functions, the full score array with the mask, a
# sampling loop without early exit): it must score full marks too. Its sequence
# passes are those of grading/plain_reference.py, the TA's plain solution.
NAIVE_LAYERS = '''
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(prev_h.dot(Wh) + x.dot(Wx) + b)
    cache = (x, prev_h, Wx, Wh, b, next_h)
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, b, next_h = cache
    dz = (1 - next_h ** 2) * dnext_h
    dx = dz.dot(Wx.T)
    dprev_h = dz.dot(Wh.T)
    dWx = x.T.dot(dz)
    dWh = prev_h.T.dot(dz)
    db = np.sum(dz, axis=0)
    return dx, dprev_h, dWx, dWh, db


def word_embedding_forward(x, W):
    N, T = x.shape
    out = np.zeros((N, T, W.shape[1]))
    for n in range(N):
        for t in range(T):
            out[n, t] = W[x[n, t]]
    return out, (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    N, T = x.shape
    for n in range(N):
        for t in range(T):
            dW[x[n, t]] += dout[n, t]
    return dW


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i = sigmoid(a[:, 0:H]); f = sigmoid(a[:, H:2*H]); o = sigmoid(a[:, 2*H:3*H]); g = np.tanh(a[:, 3*H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    t = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - t ** 2)
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f),
                         dnext_h * t * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)
    return da.dot(Wx.T), da.dot(Wh.T), dc * f, x.T.dot(da), prev_h.T.dot(da), da.sum(0)
''' + '\n\n' + '\n\n'.join(inspect.getsource(f) for f in (   # the sequence passes: the plain reference's
    plain.rnn_forward, plain.rnn_backward, plain.lstm_forward, plain.lstm_backward))
NAIVE_MODEL = '''
def _naive_loss(self, features, captions):
    captions_in = captions[:, :-1]
    captions_out = captions[:, 1:]
    mask = captions_out != self._null
    W_proj, b_proj = self.params['W_proj'], self.params['b_proj']
    W_embed = self.params['W_embed']
    Wx, Wh, b = self.params['Wx'], self.params['Wh'], self.params['b']
    W_vocab, b_vocab = self.params['W_vocab'], self.params['b_vocab']
    grads = {}
    h0 = features.dot(W_proj) + b_proj
    x, c1 = word_embedding_forward(captions_in, W_embed)
    if self.cell_type == 'rnn':
        h, c2 = rnn_forward(x, h0, Wx, Wh, b)
    else:
        h, c2 = lstm_forward(x, h0, Wx, Wh, b)
    scores, c3 = temporal_affine_forward(h, W_vocab, b_vocab)
    loss, dscores = temporal_softmax_loss(scores, captions_out, mask)
    dh, grads['W_vocab'], grads['b_vocab'] = temporal_affine_backward(dscores, c3)
    if self.cell_type == 'rnn':
        dx, dh0, grads['Wx'], grads['Wh'], grads['b'] = rnn_backward(dh, c2)
    else:
        dx, dh0, grads['Wx'], grads['Wh'], grads['b'] = lstm_backward(dh, c2)
    grads['W_embed'] = word_embedding_backward(dx, c1)
    grads['W_proj'] = features.T.dot(dh0)
    grads['b_proj'] = dh0.sum(axis=0)
    return loss, grads


def _naive_sample(self, features, max_length=30):
    N = features.shape[0]
    captions = self._null * np.ones((N, max_length), dtype=np.int32)
    W_proj, b_proj = self.params['W_proj'], self.params['b_proj']
    W_embed = self.params['W_embed']
    Wx, Wh, b = self.params['Wx'], self.params['Wh'], self.params['b']
    W_vocab, b_vocab = self.params['W_vocab'], self.params['b_vocab']
    h = features.dot(W_proj) + b_proj
    c = np.zeros_like(h)
    words = self._start * np.ones(N, dtype=np.int32)
    ended = np.zeros(N, dtype=bool)
    for t in range(max_length):
        x = W_embed[words]
        if self.cell_type == 'rnn':
            h, _ = rnn_step_forward(x, h, Wx, Wh, b)
        else:
            h, c, _ = lstm_step_forward(x, h, c, Wx, Wh, b)
        scores = h.dot(W_vocab) + b_vocab
        words = np.argmax(scores, axis=1)
        captions[:, t] = np.where(ended, self._null, words)
        ended = ended | (words == self._end)
    return captions


CaptioningRNN.loss = _naive_loss
CaptioningRNN.sample = _naive_sample
'''
# Leaves a process behind that holds the grader's channel open for a while.
DAEMON = '''
import os as _os, time as _time
if _os.fork() == 0:
    _os.setsid()
    _time.sleep(300)
    _os._exit(0)
'''
# Right, but only together: step caches are dicts, and the sequence forward
# passes build them themselves after projecting all steps at once (the faster
# way), for backward passes that call the student's own step backward passes.
# With the reference's steps in their place the backward passes fail; the
# grader must try again with the student's own and give full marks.
OWN_CACHES = NAIVE_LAYERS + '''

def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)
    return next_h, {'x': x, 'prev_h': prev_h, 'Wx': Wx, 'Wh': Wh, 'next_h': next_h}


def rnn_step_backward(dnext_h, cache):
    dz = (1 - cache['next_h'] ** 2) * dnext_h
    return (dz.dot(cache['Wx'].T), dz.dot(cache['Wh'].T), cache['x'].T.dot(dz),
            cache['prev_h'].T.dot(dz), dz.sum(axis=0))


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    xw = x.dot(Wx) + b
    h = np.zeros((N, T, h0.shape[1])); caches = []
    prev = h0
    for t in range(T):
        nxt = np.tanh(xw[:, t] + prev.dot(Wh))
        caches.append({'x': x[:, t], 'prev_h': prev, 'Wx': Wx, 'Wh': Wh, 'next_h': nxt})
        h[:, t] = prev = nxt
    return h, caches


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    dx = np.zeros((N, T, cache[0]['x'].shape[1])); dWx = dWh = db = 0
    dprev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev, a, bb, c = rnn_step_backward(dh[:, t] + dprev, cache[t])
        dWx = dWx + a; dWh = dWh + bb; db = db + c
    return dx, dprev, dWx, dWh, db


def _own_gates(a, prev_c, H):
    i, f, o = [1 / (1 + np.exp(-a[:, k * H:(k + 1) * H])) for k in range(3)]
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    return o * np.tanh(next_c), next_c, {'i': i, 'f': f, 'o': o, 'g': g, 'c': next_c, 'prev_c': prev_c}


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    next_h, next_c, cache = _own_gates(x.dot(Wx) + prev_h.dot(Wh) + b, prev_c, prev_h.shape[1])
    cache.update(x=x, prev_h=prev_h, Wx=Wx, Wh=Wh)
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    i, f, o, g = cache['i'], cache['f'], cache['o'], cache['g']
    t = np.tanh(cache['c'])
    dc = dnext_c + dnext_h * o * (1 - t ** 2)
    da = np.concatenate([dc * g * i * (1 - i), dc * cache['prev_c'] * f * (1 - f),
                         dnext_h * t * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)
    return (da.dot(cache['Wx'].T), da.dot(cache['Wh'].T), dc * f, cache['x'].T.dot(da),
            cache['prev_h'].T.dot(da), da.sum(axis=0))


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    xw = x.dot(Wx) + b
    h = np.zeros((N, T, h0.shape[1])); caches = []
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(T):
        nxt, prev_c, c = _own_gates(xw[:, t] + prev_h.dot(Wh), prev_c, h0.shape[1])
        c.update(x=x[:, t], prev_h=prev_h, Wx=Wx, Wh=Wh)
        caches.append(c)
        h[:, t] = prev_h = nxt
    return h, caches


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    dx = np.zeros((N, T, cache[0]['x'].shape[1])); dWx = dWh = db = 0
    dprev_h = np.zeros((N, H)); dprev_c = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, a, bb, c = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])
        dWx = dWx + a; dWh = dWh + bb; db = db + c
    return dx, dprev_h, dWx, dWh, db
'''
# The same with two classic bugs: the forget and input gates swapped, and
# words kept after <END> when sampling.
BUGGY_LAYERS = NAIVE_LAYERS.replace('i = sigmoid(a[:, 0:H]); f = sigmoid(a[:, H:2*H])',
                                    'f = sigmoid(a[:, 0:H]); i = sigmoid(a[:, H:2*H])')
BUGGY_MODEL = NAIVE_MODEL.replace('np.where(ended, self._null, words)', 'words')
assert BUGGY_LAYERS != NAIVE_LAYERS and BUGGY_MODEL != NAIVE_MODEL

# name -> (how it is handed in, {file: appended code}, parts it must lose)
CLASS = {
    'solution': ('folder', {}, set()),
    'release': ('collect', None, set(PARTS)),
    'broken_db': ('zip', {LAYERS: BROKEN_DB}, {'rnn_step_backward'}),
    'cheater': ('zip', {LAYERS: WRONG_BIAS}, {'rnn_step_forward', 'rnn_step_backward'}),
    'special_cased': ('zip', {LAYERS: SPECIAL_CASED}, {'rnn_step_forward'}),
    'hang': ('zip', {LAYERS: HANG}, {'rnn_step_backward', 'lstm_forward', 'lstm_backward'}),
    'crash_in_function': ('zip', {LAYERS: CRASH_IN_FUNCTION}, {'lstm_step_backward'}),
    'crash_at_import': ('zip', {MODEL: CRASH_AT_IMPORT}, MODEL_PARTS),
    # with a loss written like a student's (the solution's embeds each distinct
    # word once, without word_embedding_forward), so that the overfit parts go too
    'sys_exit': ('folder', {LAYERS: SYS_EXIT, MODEL: NAIVE_MODEL},
                 {'word_embedding_forward', 'word_embedding_backward', 'overfit_rnn', 'overfit_lstm'}),
    # a loss written like a student's, on the hoarding rnn_forward: the overfit part
    # (the student's whole stack) is lost too
    'oom': ('zip', {LAYERS: OOM, MODEL: NAIVE_MODEL}, {'rnn_forward', 'rnn_backward', 'overfit_rnn'}),
    'flood': ('zip', {LAYERS: FLOOD}, set()),
    'syntax_error': ('zip', {MODEL: SYNTAX_ERROR}, MODEL_PARTS),
    'nested_zip': ('nested', {}, set()),
    'missing_file': ('missing', {}, MODEL_PARTS),
}
# sampling that embeds the previous words, shape (N,), with word_embedding_forward, as
# the official starter code allows
SAMPLE_EMBEDS = NAIVE_MODEL.replace("x = W_embed[words]", "x, _ = word_embedding_forward(words, W_embed)")
assert SAMPLE_EMBEDS != NAIVE_MODEL
CLASS['naive'] = ('zip', {LAYERS: NAIVE_LAYERS, MODEL: SAMPLE_EMBEDS}, set())
CLASS['own_caches'] = ('zip', {LAYERS: OWN_CACHES, MODEL: NAIVE_MODEL}, set())
# Bugs that only the checks added to the notebooks for them catch there (the
# hidden checks catch them too): a gradient left out of grads (RNN), the LSTM loss
# dropping dh0, sampling that feeds <START> at every step.
NOTEBOOK_BUGS = (NAIVE_MODEL
                 .replace("    grads['b_proj'] = dh0.sum(axis=0)\n",
                          "    if self.cell_type == 'lstm':\n        grads['b_proj'] = dh0.sum(axis=0)\n")
                 .replace("lstm_backward(dh, c2)\n", "lstm_backward(dh, c2)\n        dh0 = 0 * dh0\n")
                 .replace("x = W_embed[words]", "x = W_embed[self._start * np.ones(N, dtype=np.int32)]"))
assert NOTEBOOK_BUGS.count('dh0 = 0 * dh0') == 1 and "if self.cell_type == 'lstm':" in NOTEBOOK_BUGS
assert 'W_embed[self._start' in NOTEBOOK_BUGS
CLASS['notebook_bugs'] = ('zip', {LAYERS: NAIVE_LAYERS, MODEL: NOTEBOOK_BUGS},
                          MODEL_PARTS - {'overfit_lstm'})   # without dh0 the LSTM still memorises
CLASS['naive_bugs'] = ('zip', {LAYERS: BUGGY_LAYERS, MODEL: BUGGY_MODEL},
                       {'lstm_step_forward', 'lstm_step_backward', 'sample_rnn', 'sample_lstm'})
CLASS['daemon'] = ('zip', {LAYERS: DAEMON}, set())
CLASS['beam_sample'] = ('zip', {MODEL: BEAM_SAMPLE}, {'sample_rnn', 'sample_lstm'})
CLASS['hang_and_raise'] = ('zip', {MODEL: NAIVE_MODEL, LAYERS: HANG_AND_RAISE},
                           {'lstm_step_forward', 'lstm_step_backward', 'word_embedding_backward',
                            'overfit_rnn', 'overfit_lstm'})
for i in range(2):
    CLASS['copy%d' % i] = ('zip', {}, set())


def _zip(path, files):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in sorted(files.items()):
            z.writestr(name, data)


def _solution_files(changes):
    files = {}
    for p in sorted((REPO / 'cs231n').rglob('*.py')):
        rel = p.relative_to(REPO).as_posix()
        if '__pycache__' in rel:
            continue
        data = p.read_text(encoding='utf-8')
        if rel in changes:
            data += '\n\n# ---- changed for the test ----' + changes[rel]
        files[rel] = data
    return files


def _cheater_extras(release_dir):
    """A notebook whose check was edited to accept the wrong answer, a patched
    gradient_check and rel_error, a conftest: all to be ignored by the grader."""
    nb = json.loads((release_dir / 'notebooks' / 'RNN_Captioning.ipynb').read_text())
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        src = src.replace('-0.58172089, -0.50182032', '-0.13, -0.2')   # "expected" = their output
        src = src.replace('return np.max(np.abs(x - y)', 'return 0 * np.max(np.abs(x - y)')
        cell['source'] = src
    return {'notebooks/RNN_Captioning.ipynb': json.dumps(nb),
            'cs231n/gradient_check.py': 'def eval_numerical_gradient_array(f, x, df, h=1e-5):\n    return 0\n',
            'conftest.py': 'import pytest\n',
            'tests/test_mine.py': 'def test_ok():\n    assert True\n'}


@pytest.fixture(scope='module')
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('release') / 'assignment'
    subprocess.run([PY, str(REPO / 'tools' / 'release.py'), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope='module')
def graded(tmp_path_factory, release_dir):
    subs = tmp_path_factory.mktemp('subs')
    paths = []
    for name, (how, changes, _) in CLASS.items():
        if how == 'collect':
            work = tmp_path_factory.mktemp('student') / 'assignment'
            shutil.copytree(release_dir, work)
            subprocess.run(['bash', 'collect_submission.sh'], cwd=work, check=True, capture_output=True)
            path = subs / (name + '.zip')
            shutil.copy(work / 'submission.zip', path)
        elif how == 'folder':
            path = subs / name
            for rel, data in _solution_files(changes).items():
                (path / rel).parent.mkdir(parents=True, exist_ok=True)
                (path / rel).write_text(data)
        else:
            files = _solution_files(changes)
            if name == 'cheater':
                files.update(_cheater_extras(release_dir))
            if how == 'nested':   # everything one folder down, plus hostile member names
                files = {'hw3/' + k: v for k, v in files.items()}
                files['../../escaped.py'] = 'print("never extracted")\n'
                files['/abs/cs231n/rnn_layers.py'] = 'raise SystemExit\n'
            if how == 'missing':
                del files[MODEL]
            (subs / name).mkdir()
            path = subs / name / 'submission.zip'   # named after its folder
            _zip(path, files)
        paths.append(str(path))
    out = tmp_path_factory.mktemp('grades') / 'grades.csv'
    t0 = time.monotonic()
    proc = subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), *paths, '--out', str(out), '--jobs', '2',
                           '--timeout-cell', str(TIMEOUT_CELL), '--timeout-submission', str(TIMEOUT_SUBMISSION),
                           '--memory-mb', str(MEMORY_MB)], capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out, newline='') as f:
        rows = list(csv.DictReader(f))
    details = json.loads(out.with_suffix('.json').read_text())
    students = {s['student']: s for s in details['students']}
    feedback = out.parent / 'grades_feedback'
    print(proc.stdout)
    return {'rows': {r['student']: r for r in rows}, 'students': students, 'feedback': feedback,
            'wall': wall, 'stdout': proc.stdout, 'header': list(rows[0].keys()) if rows else []}


def _lost(graded, name):
    row = graded['rows'][name]
    return {p for p in PARTS if float(row[p]) != POINTS[p]}


def _reasons(graded, name, part):
    checks = graded['students'][name]['checks']
    return [c['reason'] for k, c in checks.items() if k.startswith(part + '/') and not c['ok']]


def test_class_csv_is_complete_and_graded_in_parallel(graded):
    assert graded['header'] == ['student'] + PARTS + ['total', 'notes', 'review_flags']
    assert sorted(graded['rows']) == sorted(CLASS) and len(graded['rows']) == 23
    for name, row in graded['rows'].items():
        assert float(row['total']) == pytest.approx(sum(float(row[p]) for p in PARTS))
        assert (graded['feedback'] / (name + '.txt')).is_file()
    # two submissions at a time: some grading intervals overlap
    spans = sorted((s['started'], s['ended']) for s in graded['students'].values())
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))
    assert not any(s['grader_error'] for s in graded['students'].values())


@pytest.mark.parametrize('name', sorted(CLASS))
def test_each_submission_loses_exactly_its_parts(graded, name):
    assert _lost(graded, name) == CLASS[name][2], graded['students'][name]['checks']


def test_solution_full_marks_and_fast(graded):
    assert float(graded['rows']['solution']['total']) == sum(POINTS.values()) == 100
    assert graded['students']['solution']['seconds'] < 30


def test_release_scores_zero_every_check_not_implemented(graded):
    assert float(graded['rows']['release']['total']) == 0
    for cid, c in graded['students']['release']['checks'].items():
        assert not c['ok'] and c['reason'].startswith('NotImplementedError'), (cid, c['reason'])


def test_broken_function_feedback_names_the_check(graded):
    text = (graded['feedback'] / 'broken_db.txt').read_text()
    assert 'rnn_step_backward db: error' in text            # the notebook check's own message
    assert "rnn_step_backward db is wrong" in text           # the hidden check's
    assert 'rnn_step_forward              4       4  ok' in text


def test_edited_notebook_and_patched_helpers_are_ignored(graded):
    reasons = _reasons(graded, 'cheater', 'rnn_step_forward')
    assert any('rnn_step_forward next_h: error' in r for r in reasons)   # the instructor's notebook check


def test_code_right_with_its_own_pieces_is_tried_again_with_them(graded):
    checks = graded['students']['own_caches']['checks']
    for part in ('rnn_backward', 'lstm_backward', 'overfit_rnn', 'overfit_lstm'):
        first = [c for k, c in checks.items() if k.startswith(part + '/') and not k.endswith('+own')]
        again = [c for k, c in checks.items() if k.startswith(part + '/') and k.endswith('+own')]
        assert first and not all(c['ok'] for c in first), part     # the reference's steps in place
        assert again and all(c['ok'] for c in again), part          # the student's own steps
    # parts that pass at once are not run again
    assert not any(k.startswith('rnn_forward/') and k.endswith('+own') for k in checks)
    text = (graded['feedback'] / 'own_caches.txt').read_text()
    assert 'FAILED' not in text and 'Failed checks' not in text


def test_notebook_checks_catch_what_only_the_hidden_ones_did(graded):
    checks = graded['students']['notebook_bugs']['checks']
    for cid, why in [('captioning_loss_rnn/visible:captioning_grads_rnn', "grads has no ['b_proj']"),
                     ('captioning_loss_lstm/visible:captioning_grads_lstm', 'grad W_proj: error'),
                     ('sample_rnn/visible:sample_rnn_words', 'sample gave'),
                     ('sample_lstm/visible:sample_lstm_words', 'sample gave')]:
        assert not checks[cid]['ok'] and why in checks[cid]['reason'], (cid, checks[cid])
    # the form of the sampled captions is right: only the words check sees the bug
    assert checks['sample_rnn/visible:sample_rnn']['ok']
    assert checks['captioning_loss_lstm/visible:captioning_loss_lstm']['ok']


def test_special_cased_passes_the_visible_check_only(graded):
    checks = graded['students']['special_cased']['checks']
    assert checks['rnn_step_forward/visible:rnn_step_forward']['ok']
    assert not checks['rnn_step_forward/hidden:rnn_step_forward_cases']['ok']


def test_hang_is_reported_as_timeout_within_the_limit(graded):
    reasons = _reasons(graded, 'hang', 'rnn_step_backward')
    # the first check times out; the part's other check could not change its
    # score, so it is not run (a second wait of TIMEOUT_CELL saved)
    assert sorted(reasons) == ['not run: visible:rnn_step_backward of this part timed out',
                               'timed out after %g s' % TIMEOUT_CELL]
    # a part with a second round (lstm_forward uses lstm_step_forward) does not get it after a timeout
    checks = graded['students']['hang']['checks']
    assert checks['lstm_forward/visible:lstm_forward']['reason'] == 'timed out after %g s' % TIMEOUT_CELL
    assert not any(k.endswith('+own') for k in checks if k.startswith(('lstm_forward/', 'lstm_backward/')))
    # three timeouts (rnn_step_backward, lstm_forward, lstm_backward), and restarts of the runner
    assert graded['students']['hang']['seconds'] < 3 * TIMEOUT_CELL + 25


def test_sample_cannot_lean_on_the_given_beam_search(graded):
    for part in ('sample_rnn', 'sample_lstm'):
        reasons = _reasons(graded, 'beam_sample', part)
        assert reasons and all('called the given _beam_search, which the grader switches off' in r
                               for r in reasons), reasons
    # the helpers are back for the other parts: the loss parts, whose loss calls one, passed
    parts = [p['name'] for p in CONFIG['parts']]
    assert parts.index('sample_rnn') < parts.index('captioning_loss_lstm')
    for part in ('captioning_loss_rnn', 'captioning_loss_lstm'):
        assert float(graded['rows']['beam_sample'][part]) == POINTS[part], part


def test_no_second_round_runs_code_that_timed_out(graded):
    checks = graded['students']['hang_and_raise']['checks']
    assert 'NameError' in checks['overfit_lstm/hidden:overfit_lstm']['reason']
    assert checks['lstm_step_forward/visible:lstm_step_forward']['reason'] == 'timed out after %g s' % TIMEOUT_CELL
    # overfit_lstm's second round would run the student's lstm_step_forward: skipped;
    # overfit_rnn's runs the RNN steps, which did not hang
    assert not any(k.startswith('overfit_lstm/') and k.endswith('+own') for k in checks)
    assert any(k.startswith('overfit_rnn/') and k.endswith('+own') for k in checks)
    # two timeouts (the lstm_step_forward and lstm_step_backward parts), and restarts of the runner
    assert graded['students']['hang_and_raise']['seconds'] < 2 * TIMEOUT_CELL + 25


def test_crashes_and_exits_are_reported(graded):
    assert set(_reasons(graded, 'crash_in_function', 'lstm_step_backward')) == {'crashed (exit code 3)'}
    for part in MODEL_PARTS:
        assert set(_reasons(graded, 'crash_at_import', part)) == {
            'could not import cs231n/classifiers/rnn.py: crashed (exit code 3) at import'}
        assert all('SyntaxError' in r for r in _reasons(graded, 'syntax_error', part))
        assert all(r.count('line ') == 1 for r in _reasons(graded, 'syntax_error', part))  # said once
    assert set(_reasons(graded, 'sys_exit', 'word_embedding_forward')) == {'called sys.exit(0)'}
    assert all(r.startswith('out of memory') for r in _reasons(graded, 'oom', 'rnn_forward'))
    # one import failure sinks many parts: the feedback says it once
    text = (graded['feedback'] / 'crash_at_import.txt').read_text()
    assert text.count('could not import') == 1 and 'captioning_loss_rnn, overfit_rnn, sample_rnn' in text


def test_feedback_points_at_the_part_to_fix_first(graded):
    text = (graded['feedback'] / 'oom.txt').read_text()
    backward = text[text.index('- rnn_backward,'):]
    assert 'also runs the code of rnn_forward, which failed too: fix that first' in backward
    assert 'section "Vanilla RNN: backward over a sequence"' in text   # where the check cell is
    # the RNN overfit part runs the loss, as the LSTM loss part does, but not the LSTM:
    # it is pointed at the RNN loss part only
    text = (graded['feedback'] / 'missing_file.txt').read_text()
    inner = [line.strip() for line in text.splitlines() if 'also runs the code of' in line]
    assert inner == ['this part also runs the code of captioning_loss_rnn, which failed too: fix that first',
                     'this part also runs the code of captioning_loss_lstm, which failed too: fix that first'], text
    # a part that failed only on an import failure said above gets no more lines
    text = (graded['feedback'] / 'syntax_error.txt').read_text()
    assert 'also runs the code of' not in text and 'tried again' not in text, text


def test_a_process_left_behind_does_not_hold_up_grading(graded):
    students = graded['students']
    assert students['daemon']['seconds'] < students['solution']['seconds'] + TIMEOUT_CELL
    # and it does not outlive grading, though it is in a session of its own
    if os.path.isdir('/proc/self'):
        left = []
        for environ in Path('/proc').glob('[0-9]*/environ'):
            try:
                if grade.TOKEN_VAR.encode() + b'=' in environ.read_bytes():
                    left.append(environ.parent.name)
            except OSError:
                pass
        assert left == [], 'processes of the submissions still running: %s' % left


def test_output_flood_is_capped(graded):
    flood = graded['students']['flood']
    out = flood['checks']['rnn_step_forward/visible:rnn_step_forward']['output']
    assert len(out) < 70 * 1024 and 'more characters of output dropped' in out
    assert flood['seconds'] < 60


def test_missing_file_and_hostile_zip(graded):
    assert any('graded as handed out' in n for n in graded['students']['missing_file']['notes'])
    assert float(graded['rows']['nested_zip']['total']) == 100


# ----------------------------------------------------------------- collect step

def _run_notebooks_fake(work):
    """Mark every code cell of the notebooks as run, in order, without errors."""
    for nb_path in (work / 'notebooks').glob('*.ipynb'):
        nb = json.loads(nb_path.read_text())
        n = 0
        for cell in nb['cells']:
            if cell['cell_type'] == 'code':
                n += 1
                cell['execution_count'] = n
        nb_path.write_text(json.dumps(nb))


def test_collect_warns_and_zips_deterministically(release_dir, tmp_path):
    work = tmp_path / 'assignment'
    shutil.copytree(release_dir, work)
    first = subprocess.run(['bash', 'collect_submission.sh'], cwd=work, capture_output=True, text=True, check=True)
    assert 'never run' in first.stdout and 'still has TODO blocks' in first.stdout
    # the sampling cells of both notebooks hold a TODO block too
    assert first.stdout.count('still has a TODO block') == 2 and 'section "Test-time sampling"' in first.stdout
    data1 = (work / 'submission.zip').read_bytes()
    time.sleep(1.1)   # a zip with timestamps would now differ
    subprocess.run(['bash', 'collect_submission.sh'], cwd=work, capture_output=True, check=True)
    assert (work / 'submission.zip').read_bytes() == data1
    names = zipfile.ZipFile(work / 'submission.zip').namelist()
    code = sorted(p.relative_to(work).as_posix() for p in (work / 'cs231n').rglob('*.py'))
    assert names == sorted(code + ['notebooks/LSTM_Captioning.ipynb', 'notebooks/RNN_Captioning.ipynb'])

    # the solution put in, the notebooks' TODO blocks filled, the notebooks "run": no warning at all;
    # a block whose raise line was replaced is done, though its comments are still there
    shutil.copy(REPO / MODEL, work / MODEL)
    layers = (work / LAYERS).read_text()
    assert layers.count('TODO: ') == 10
    (work / LAYERS).write_text(re.sub(r'raise NotImplementedError\(.*\)', 'pass', layers))
    for nb_path in (work / 'notebooks').glob('*.ipynb'):
        nb = json.loads(nb_path.read_text())
        for cell in nb['cells']:
            src = ''.join(cell['source'])
            if 'TODO: ' in src:
                cell['source'] = re.sub(r'raise NotImplementedError\(.*\)', 'pass', src)
        nb_path.write_text(json.dumps(nb))
    _run_notebooks_fake(work)
    clean = subprocess.run(['bash', 'collect_submission.sh'], cwd=work, capture_output=True, text=True, check=True)
    assert 'WARNING' not in clean.stdout and 'all notebooks were run without errors' in clean.stdout

    # an error output in a cell is reported
    nb_path = work / 'notebooks' / 'RNN_Captioning.ipynb'
    nb = json.loads(nb_path.read_text())
    code_cells = [c for c in nb['cells'] if c['cell_type'] == 'code']
    code_cells[3]['outputs'] = [{'output_type': 'error', 'ename': 'AssertionError', 'evalue': '', 'traceback': []}]
    nb_path.write_text(json.dumps(nb))
    bad = subprocess.run(['bash', 'collect_submission.sh'], cwd=work, capture_output=True, text=True, check=True)
    assert 'code cell 4, section "Vanilla RNN: step forward" (AssertionError)' in bad.stdout


def test_review_flags_catch_reaching_for_the_reference():
    cheat = (b"from cs231n.image_utils import sys as _s\n"
             b"def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
             b"    ref = [m for n, m in _s.modules.items() if n.startswith('_ref_')][0]\n"
             b"    return getattr(ref.rnn_layers, 'rnn_step_forward')(x, prev_h, Wx, Wh, b)\n")
    flags = grade.review_flags({LAYERS: cheat})
    assert flags == [LAYERS + ' line 1 imports sys from cs231n.image_utils',
                     LAYERS + " line 3 has the string '_ref_'", LAYERS + ' line 3 uses .modules',
                     LAYERS + ' line 4 calls getattr()']
    # none for the solution, nor for the files as handed out
    solution = {rel: (REPO / rel).read_bytes() for rel in grade.STUDENT_MODULES.values()}
    assert grade.review_flags(solution) == []
    hints = release.load_hints()
    handed_out = {rel: release.student_python(rel, data.decode(), hints)[0].encode()
                  for rel, data in solution.items()}
    assert grade.review_flags(handed_out) == []


def test_unmatched_path_is_an_error(tmp_path):
    proc = subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), str(tmp_path / 'nosuchdir' / '*.zip'),
                           '--out', str(tmp_path / 'g.csv')], capture_output=True, text=True)
    assert proc.returncode == 2 and 'no such file or folder' in proc.stderr
    assert not (tmp_path / 'g.csv').exists()


def test_feedback_of_an_earlier_run_is_removed(graded, tmp_path):
    fb = tmp_path / 'grades_feedback'
    fb.mkdir()
    (fb / 'someone_else.txt').write_text('an earlier run')
    one = [graded['students']['solution']]
    assert grade.write_reports(one, CONFIG['parts'], tmp_path / 'grades.csv') == (fb, 1)
    assert sorted(f.name for f in fb.iterdir()) == ['solution.txt']


def test_notes_and_review_flags_reach_the_instructor_not_the_student(graded):
    rows, out = graded['rows'], graded['feedback'].parent
    assert 'graded as handed out' in rows['missing_file']['notes'] and rows['solution']['notes'] == ''
    assert int(rows['sys_exit']['review_flags']) > 0 and rows['solution']['review_flags'] == '0'
    review = (out / 'grades_review.txt').read_text()
    assert review.startswith('For the instructor, not for the students')
    assert '\nsys_exit:\n- cs231n/rnn_layers.py line' in review and '\nsolution:' not in review
    for f in graded['feedback'].iterdir():
        assert 'instructor' not in f.read_text(), f.name
    lines = {line.split()[0]: line for line in graded['stdout'].splitlines() if line.startswith('  ')}
    assert 'NOTE: cs231n/classifiers/rnn.py: not found' in lines['missing_file']
    assert 'review flag(s)' in lines['sys_exit'] and 'NOTE' not in lines['solution']
    assert 'rnn_fast.py' not in rows['solution']['notes'] + rows['missing_file']['notes']   # optional file


def _grade_cmd(*args):
    return [PY, str(REPO / 'tools' / 'grade.py'), *args, '--timeout-cell', str(TIMEOUT_CELL),
            '--memory-mb', str(MEMORY_MB)]


def test_regrading_one_student_keeps_the_class(graded, tmp_path):
    results = tmp_path / 'results'
    shutil.copytree(graded['feedback'].parent, results)       # the class's reports
    out, fb = results / 'grades.csv', results / 'grades_feedback'
    before = {f.name: f.read_bytes() for f in results.rglob('*') if f.is_file()}
    one = graded['students']['broken_db']['path']
    cmd = _grade_cmd(one, '--out', str(out))

    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 2, refused.stderr
    assert 'already holds the grades of %d student(s) not in this run' % (len(CLASS) - 1) in refused.stderr
    assert '--merge' in refused.stderr and '--replace' in refused.stderr
    assert {f.name: f.read_bytes() for f in results.rglob('*') if f.is_file()} == before   # untouched

    # feedback written by an older version, with the review flags in it: rewritten from the record
    (fb / 'sys_exit.txt').write_text(before['sys_exit.txt'].decode() + '\nFor the instructor to review: ...\n')
    merged = subprocess.run(cmd + ['--merge'], capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    assert 'kept %d student(s) of the earlier run' % (len(CLASS) - 1) in merged.stdout
    with open(out, newline='') as f:
        rows = {r['student']: r for r in csv.DictReader(f)}
    assert rows == graded['rows']                           # the same grades, everyone still there
    students = json.loads(out.with_suffix('.json').read_text())['students']
    assert sorted(s['student'] for s in students) == sorted(CLASS)
    regraded = next(s for s in students if s['student'] == 'broken_db')
    assert regraded['started'] > graded['students']['broken_db']['ended']
    for name in CLASS:                                      # the others' feedback as it was
        if name != 'broken_db':
            assert (fb / (name + '.txt')).read_bytes() == before[name + '.txt'], name

    replaced = subprocess.run(cmd + ['--replace'], capture_output=True, text=True)
    assert replaced.returncode == 0, replaced.stderr
    assert 'removed %d feedback file(s)' % (len(CLASS) - 1) in replaced.stdout
    assert sorted(f.name for f in fb.iterdir()) == ['broken_db.txt']
    with open(out, newline='') as f:
        assert [r['student'] for r in csv.DictReader(f)] == ['broken_db']


def test_out_must_be_a_csv_and_merge_needs_the_same_parts(graded, tmp_path):
    one = graded['students']['solution']['path']
    bad = subprocess.run(_grade_cmd(one, '--out', str(tmp_path / 'grades.json')), capture_output=True, text=True)
    assert bad.returncode == 2 and '--out must name a .csv file' in bad.stderr
    assert not (tmp_path / 'grades.json').exists()
    results = tmp_path / 'results'
    shutil.copytree(graded['feedback'].parent, results)
    cfg = tmp_path / 'config.toml'
    cfg.write_text((REPO / 'grading' / 'config.toml').read_text().replace('points = 4\n', 'points = 5\n', 1))
    other = subprocess.run(_grade_cmd(one, '--out', str(results / 'grades.csv'), '--merge', '--config', str(cfg)),
                           capture_output=True, text=True)
    assert other.returncode == 2 and 'cannot merge' in other.stderr and 'other parts, points' in other.stderr


def test_config_errors_are_caught(tmp_path):
    cfg = (REPO / 'grading' / 'config.toml').read_text()
    bad = tmp_path / 'config.toml'
    bad.write_text(cfg.replace('"hidden:rnn_forward_cases"', '"hidden:no_such_check"'))
    proc = subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), str(tmp_path), '--out', str(tmp_path / 'g.csv'),
                           '--config', str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and 'no_such_check' in proc.stderr


def test_workspace_template_holds_no_solution_code(tmp_path):
    """A submission's code can import cs231n.*: the workspace's cs231n/ is the
    package as handed out, so the reference's fast sequence layers
    (rnn_fast.py) and solved functions are only in the randomly named
    reference package, where the runner alone imports them from."""
    snap = release.snapshot()
    tpl, ref = grade.make_template(tmp_path, CONFIG, snap, snap[1])
    fast, ref_fast = (tpl / 'cs231n' / 'rnn_fast.py').read_text(), (tpl / ref / 'rnn_fast.py').read_text()
    assert 'def _lstm_recurrence(' in ref_fast and 'def ' not in fast
    layers = (tpl / 'cs231n' / 'rnn_layers.py').read_text()
    assert 'TODO: rnn_forward' in layers and 'rnn_fast import' not in layers
    assert 'rnn_fast import' in (tpl / ref / 'rnn_layers.py').read_text()
    assert (tpl / 'cs231n' / 'optim.py').read_bytes() == (REPO / 'cs231n' / 'optim.py').read_bytes()


def test_students_are_named_after_their_file_or_folder(tmp_path):
    for rel, name in [('alice.zip', 'alice'), ('bob/submission.zip', 'bob'),
                      ('carol/submission (2).zip', 'carol'), ('dan/submission-1.zip', 'dan'),
                      ('Eve Smith.zip', 'Eve_Smith'), ('frank', 'frank')]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith('.zip'):
            path.write_bytes(b'')
        else:
            path.mkdir()
        assert grade.student_name(path) == name, rel
    (tmp_path / 'late').mkdir()
    (tmp_path / 'late' / 'alice.zip').write_bytes(b'')
    assert grade.unique_names([tmp_path / 'alice.zip', tmp_path / 'late' / 'alice.zip', tmp_path / 'frank']) \
        == ['alice', 'alice-2', 'frank']
    # a NAME-2 that another submission already has is not given twice
    (tmp_path / 'alice-2.zip').write_bytes(b'')
    assert grade.unique_names([tmp_path / 'alice.zip', tmp_path / 'late' / 'alice.zip', tmp_path / 'alice-2.zip']) \
        == ['alice', 'alice-3', 'alice-2']
