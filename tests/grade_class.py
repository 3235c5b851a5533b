"""The class of submissions that tests/test_grade.py grades: the solution with
deliberate changes appended (broken, cheating, hanging, crashing, exiting,
running out of memory, flooding the output), plain-loop implementations
written like a student's, and the helpers that hand them in as folders and
zips."""
import inspect
import json
import subprocess
import sys
import zipfile
from pathlib import Path

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
    'flat_zip': ('flat', {}, set()),           # the three files at the top of the zip, no folders
    'windows_zip': ('windows', {}, set()),     # names written with backslashes
    'deep_folder': ('deep', {}, set()),        # a folder with everything two folders down
    'missing_file': ('missing', {}, MODEL_PARTS),
    'truncated_zip': ('truncated', {}, set(PARTS)),
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
# a given function (no TODO in it) rewritten, still right: full marks, and a note
GIVEN_EDITED = '''
def sigmoid(x):
    x = np.asarray(x)
    return 0.5 * (1 + np.tanh(0.5 * x))
'''
CLASS['given_edited'] = ('zip', {LAYERS: GIVEN_EDITED}, set())
# backward passes that add the carried gradient into dh in place: right, full marks
INPLACE_DH = (NAIVE_LAYERS
              .replace('        dx_t, dprev_h, *dW_t = rnn_step_backward(dh[:, t] + dprev_h, cache[t])',
                       '        dh[:, t] += dprev_h\n'
                       '        dx_t, dprev_h, *dW_t = rnn_step_backward(dh[:, t], cache[t])')
              .replace('        dx_t, dprev_h, dprev_c, *dW_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])',
                       '        dh[:, t] += dprev_h\n'
                       '        dx_t, dprev_h, dprev_c, *dW_t = lstm_step_backward(dh[:, t], dprev_c, cache[t])'))
assert INPLACE_DH.count('dh[:, t] += dprev_h') == 2 and 'dh[:, t] + dprev' not in INPLACE_DH
CLASS['inplace_dh'] = ('zip', {LAYERS: INPLACE_DH, MODEL: NAIVE_MODEL}, set())
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


def build_release(out):
    """The student version (tools/release.py), made in the folder out."""
    subprocess.run([PY, str(REPO / 'tools' / 'release.py'), str(out)], check=True, capture_output=True)
    return out
