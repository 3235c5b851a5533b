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


def failure_message(name, err, tol, hint=''):
    """The message of the check `name` whose error err is not below tol; the
    failure is remembered (see check_passed)."""
    if isinstance(err, ShapeMismatch):
        message = ('%s: your result has shape %s, expected %s: check the shape your function '
                   'returns against its docstring.' % (name, err.got, err.expected))
    else:
        message = f'{name}: error {err:.2e} is not below {tol:.0e}. {hint}'.rstrip()
    return _remember_failure(name, message)


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
                                               'of %s' % (name, np.shape(a), shape, _function(name))))


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
