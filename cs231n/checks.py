"""Helpers of the notebooks' check cells (given code, not graded)."""
import contextlib

import numpy as np

# The given methods that decode captions step by step. Greedy sampling is
# beam search of width 1, so while a check runs sample they are switched off
# (here and in the grader, grading/runner.py): sample must hold the greedy
# loop itself.
SAMPLING_HELPERS = ('_sample_options', '_step_log_probs', '_sample_temperature', '_beam_search')

TINY_WORDS = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3, 'cat': 4, 'dog': 5, 'on': 6, 'mat': 7}


class ShapeMismatch(float):
    """What the notebooks' rel_error gives for arrays of different shapes: an
    infinite error (no check passes) that failure_message reports with both
    shapes."""

    def __new__(cls, expected, got):
        err = super().__new__(cls, float('inf'))
        err.expected, err.got = tuple(expected), tuple(got)
        return err

    def __repr__(self):
        return 'inf (the shapes differ: expected %s, got %s)' % (self.expected, self.got)

    __str__ = __repr__


# Function -> its check that did not pass when last run (in the order they
# failed), so that a later failing check can say that it may only be a
# consequence. The grader forgets them before every check: it runs each part
# with the reference's versions of what the part builds on.
_FAILING = {}

# The checked functions that the check of each layer function may run, directly
# or through numerical gradients (a backward's check runs its forward; the
# sequence functions may call the step functions). A check of anything else
# (the model) may use every layer.
_RUNS = {
    'rnn_step_backward': ('rnn_step_forward',),
    'rnn_forward': ('rnn_step_forward',),
    'rnn_backward': ('rnn_step_backward', 'rnn_forward'),
    'word_embedding_backward': ('word_embedding_forward',),
    'temporal_affine_backward': ('temporal_affine_forward',),
    'lstm_step_backward': ('lstm_step_forward',),
    'lstm_forward': ('lstm_step_forward',),
    'lstm_backward': ('lstm_step_backward', 'lstm_forward'),
}
_LAYERS = {'rnn_step_forward', 'word_embedding_forward', 'temporal_affine_forward', 'temporal_softmax_loss',
           'lstm_step_forward'} | set(_RUNS)


def _runs(fn):
    """Every checked function that the check of layer function fn runs."""
    todo, seen = list(_RUNS.get(fn, ())), set()
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo.extend(_RUNS.get(f, ()))
    return seen


def _function(name):
    """'rnn_step_backward dx' -> 'rnn_step_backward'."""
    return name.split()[0]


def _remember_failure(name, message):
    fn = _function(name)
    _FAILING.pop(fn, None)
    if fn in _LAYERS:
        runs = _runs(fn)
        earlier = [f for f in _FAILING if f in runs]
        if earlier:
            message += (' Note: the check of %s, which this check may build on (directly or through '
                        'numerical gradients), did not pass when last run: fix %s first.'
                        % (' and '.join(earlier), 'that' if len(earlier) == 1 else 'those'))
    else:
        earlier = list(_FAILING)
        if earlier:
            message += (' Note: the check of %s did not pass when last run, and this check may use %s: '
                        'fix the first failing check first.'
                        % (', '.join(earlier), 'it' if len(earlier) == 1 else 'them'))
    _FAILING[fn] = name
    return message


def _axes_hint(got, expected):
    """A hint when an (N, T, ...) result came out (T, N, ...): a list of the
    steps made an array."""
    got, expected = tuple(got), tuple(expected)
    if len(got) == len(expected) == 3 and got != expected and got == (expected[1], expected[0], expected[2]):
        return (' The first two axes are swapped, as when the T steps are stacked on axis 0: stack them '
                'along axis 1 (np.stack(steps, axis=1)), or fill a preallocated (N, T, ...) array.')
    return ''


def failure_message(name, err, tol, hint=''):
    """The message of the check `name` whose error err is not below tol; the
    failure is remembered (see check_passed)."""
    if isinstance(err, ShapeMismatch):
        message = ('%s: your result has shape %s, expected %s: check the shape your function '
                   'returns against its docstring.%s' % (name, err.got, err.expected,
                                                          _axes_hint(err.got, err.expected)))
    else:
        message = f'{name}: error {err:.2e} is not below {tol:.0e}. {hint}'.rstrip()
    return _remember_failure(name, message)


def fail(name, message):
    """Stop the check `name` with an AssertionError saying message (and,
    as failure_message does, any earlier failure it may build on)."""
    raise AssertionError(_remember_failure(name, '%s: %s' % (name, message)))


def check_passed(name):
    """Forget an earlier failure of the function that `name` checks."""
    _FAILING.pop(_function(name), None)


def forget_failures():
    """Forget every remembered failure (the grader, before each check)."""
    _FAILING.clear()


def check_shape(name, a, shape):
    """Stop with a message unless the array `a` (what `name` is, e.g.
    'rnn_step_forward next_h') has the given shape. Used before a backward
    check runs a forward function whose values were checked above."""
    shape = tuple(int(k) for k in shape)
    if np.shape(a) != shape:
        raise AssertionError(_remember_failure(name, '%s has shape %s, expected %s: see the docstring '
                                               'of %s.%s' % (name, np.shape(a), shape, _function(name),
                                                             _axes_hint(np.shape(a), shape))))


def check_tiny_sample(cell_type, seed, expected, hint):
    """Greedy sampling of a tiny CaptioningRNN with fixed random weights,
    against captions computed once with a correct implementation.

    Inputs:
    - cell_type: 'rnn' or 'lstm'
    - seed: Seed of np.random for the weights and the 3 feature vectors
    - expected: Integer array of shape (3, T): the expected captions, T = max_length
    - hint: What to say when the captions differ

    Prints a PASS line (nothing is returned, so a notebook cell shows only
    the check); raises an AssertionError with the hint when the captions differ.
    """
    from .classifiers.rnn import CaptioningRNN     # the module's class as it is now (yours)
    from .coco_utils import decode_captions
    expected = np.asarray(expected)
    model = CaptioningRNN(TINY_WORDS, input_dim=4, wordvec_dim=3, hidden_dim=5, cell_type=cell_type,
                          dtype=np.float64)
    np.random.seed(seed)
    for k in sorted(model.params):
        model.params[k] = np.random.randn(*model.params[k].shape)
    features = np.random.randn(3, 4)
    with given_sampling_off(CaptioningRNN):
        captions = np.asarray(model.sample(features, max_length=expected.shape[1]))
    idx_to_word = {i: w for w, i in TINY_WORDS.items()}
    for row in expected:
        print('expected:', decode_captions(row, idx_to_word))
    name = 'CaptioningRNN.sample words'
    if captions.shape != expected.shape:
        raise AssertionError(_remember_failure(name, '%s: sample returned shape %s, expected (N, max_length) '
                                               '= %s' % (name, captions.shape, expected.shape)))
    if not np.array_equal(captions, expected):
        raise AssertionError(_remember_failure(name, '%s: sample gave %s, expected %s. Hint: %s' % (
            name, captions.tolist(), expected.tolist(), _sample_hint(captions, expected, hint))))
    check_passed(name)
    print('PASS sample words: the greedy captions of a tiny fixed model')


def _sample_hint(captions, expected, hint):
    """What the most likely mistake is, from how the captions differ."""
    start, end, null = TINY_WORDS['<START>'], TINY_WORDS['<END>'], TINY_WORDS['<NULL>']
    if (captions[:, 0] == start).any():
        return ('column 0 must hold the first generated word: <START> is fed in, '
                'it is not part of the result.')
    ends = np.cumsum(expected == end, axis=1)
    after = ends - (expected == end) > 0          # positions after the first <END>
    first_end = (ends == 1) & (expected == end)   # the first <END> of each caption
    before = ~after & ~first_end
    if np.array_equal(np.where(after, 0, captions), np.where(after, 0, expected)):
        return ('the words up to <END> are right; after a caption\'s <END> every position must '
                'hold <NULL> (%d).' % null)
    if (first_end.any() and np.array_equal(captions[before], expected[before])
            and (captions[first_end] != end).all()):
        return ('the words before <END> are right, but where a caption ends there is %s instead of '
                '<END> (%d): <END> is the last word of a caption, write it before the <NULL>s.'
                % (' / '.join(sorted({'<NULL> (%d)' % null if w == null else 'word %d' % w
                                      for w in captions[first_end].tolist()})), end))
    return hint


GATES = ('i', 'f', 'o', 'g')
_ONE_GATE = {
    'i': 'di = dc * g, then through its sigmoid: * i * (1 - i).',
    'f': 'df = dc * prev_c, then through its sigmoid: * f * (1 - f).',
    'o': 'do = dnext_h * tanh(next_c), then once through its sigmoid: * o * (1 - o).',
    'g': 'dg = dc * i, then through the tanh: * (1 - g**2).',
}


def lstm_gate_hint(db_num, db, hint):
    """The hint of lstm_step_backward's dx and dh checks, sharpened by db:
    db is the gradient of the pre-activations summed over the minibatch, one
    block of H per gate, so its blocks show which gates' gradients are wrong."""
    db_num, db = np.asarray(db_num, dtype=np.float64), np.asarray(db)
    if db.shape != db_num.shape or db.size % 4 or not np.issubdtype(db.dtype, np.number):
        return hint
    want, got = db_num.reshape(4, -1), db.reshape(4, -1).astype(np.float64)

    def same(a, b):
        return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))) < 1e-7
    wrong = [k for k in range(4) if not same(want[k], got[k])]
    if not wrong:
        return ('Hint: db is right, so are the gradients of the four gates: look at the products '
                'after them, dx = da @ Wx.T and dprev_h = da @ Wh.T, with da (N, 4H) the gates\' '
                'gradients side by side.')
    found = [next((j for j in range(4) if same(want[j], got[k])), None) for k in range(4)]
    if None not in found and sorted(found) == [0, 1, 2, 3]:
        return ('Hint: your db holds the right gate gradients in another order, %s: put them side by '
                'side as i, f, o, g, the order of the columns of Wx.' % ', '.join(GATES[j] for j in found))
    names = [GATES[k] for k in wrong]
    say = 'Hint: your db shows that the gradient of %s is wrong (%s right). ' % (
        ', '.join(names), ', '.join(GATES[k] for k in range(4) if k not in wrong) or 'no gate')
    if names == ['i', 'f', 'g']:
        return say + ('With o right, dc is wrong: dc = dnext_c + dnext_h * o * (1 - tanh(next_c)**2), '
                      'the derivative of tanh at next_c written with tanh(next_c), not with next_c.')
    if len(names) == 1:
        return say + _ONE_GATE[names[0]]
    return say + hint.replace('Hint: ', '', 1)


def switched_off(name):
    """A stand-in for the sampling helper `name` that raises a RuntimeError saying why."""
    def refuse(self, *args, **kwargs):
        raise RuntimeError('CaptioningRNN.sample called the given %s, which the checks and the grader '
                           'switch off while they run sample: write the greedy loop in sample itself' % name)
    return refuse


@contextlib.contextmanager
def given_sampling_off(cls):
    """Within the block, calling one of cls's SAMPLING_HELPERS raises a
    RuntimeError that says why; they are put back afterwards."""
    given = {m: vars(cls)[m] for m in SAMPLING_HELPERS if m in vars(cls)}
    try:
        for m in given:
            setattr(cls, m, switched_off(m))
        yield
    finally:
        for m, f in given.items():
            setattr(cls, m, f)
