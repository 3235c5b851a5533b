"""Helpers of the notebooks' check cells (given code, not graded)."""
import contextlib

import numpy as np

# The given methods that decode captions step by step. Greedy sampling is
# beam search of width 1, so while a check runs sample they are switched off
# (here and in the grader, grading/runner.py): sample must hold the greedy
# loop itself.
SAMPLING_HELPERS = ('_sample_options', '_step_log_probs', '_sample_temperature', '_beam_search')

TINY_WORDS = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3, 'cat': 4, 'dog': 5, 'on': 6, 'mat': 7}


def check_tiny_sample(cell_type, seed, expected, hint):
    """Greedy sampling of a tiny CaptioningRNN with fixed random weights,
    against captions computed once with a correct implementation.

    Inputs:
    - cell_type: 'rnn' or 'lstm'
    - seed: Seed of np.random for the weights and the 3 feature vectors
    - expected: Integer array of shape (3, T): the expected captions, T = max_length
    - hint: What to say when the captions differ

    Returns:
    - captions: What sample gave, of shape (3, T)
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
    assert np.array_equal(captions, expected), (
        f'sample gave {captions.tolist()}, expected {expected.tolist()}. Hint: {hint}')
    print('PASS sample words: the greedy captions of a tiny fixed model')
    return captions


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
