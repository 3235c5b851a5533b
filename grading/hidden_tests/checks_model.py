"""Hidden checks of CaptioningRNN (instructor-only): the loss and its gradients
on other sizes and captions, a few training steps instead of the notebooks'
overfitting runs, and greedy sampling on a tiny trained model."""
import numpy as np

from harness import (END, NULL, START, WORDS, adam_steps, call, close, numeric_close, tiny_captions,
                     tiny_model, trained_tiny_model)


# --------------------------------------------------------------------- loss

def _loss_cases(ctx, cell_type):
    for seed, (N, T, D, W, H) in [(41, (4, 6, 6, 5, 7)), (42, (1, 3, 3, 4, 2)), (43, (9, 9, 8, 3, 5))]:
        rng = np.random.RandomState(seed)
        features = rng.randn(N, D)
        captions = tiny_captions(rng, N, T)
        model = tiny_model(ctx, cell_type, seed, D=D, W=W, H=H)
        where = '%s model, N=%d, T=%d, D=%d, W=%d, H=%d, seed %d' % (cell_type, N, T, D, W, H, seed)
        params = {k: v.copy() for k, v in model.params.items()}
        loss, grads = call(model.loss, 'CaptioningRNN.loss', ('loss', 'grads'), features, captions)
        model.params = {k: v.copy() for k, v in params.items()}
        want_loss, want_grads = ctx.RefModel.loss(model, features, captions)
        close('loss', np.float64(loss), want_loss, 1e-10, where)
        if not isinstance(grads, dict):
            raise AssertionError('grads should be a dict; it is a %s' % type(grads).__name__)
        if set(grads) != set(want_grads):
            raise AssertionError('grads has the keys %s; it should have one per parameter: %s'
                                 % (sorted(grads), sorted(want_grads)))
        for k in sorted(want_grads):
            close('grads[%r]' % k, grads[k], want_grads[k], 1e-8, where)
    # the student's gradients against numerical gradients of the student's loss
    rng = np.random.RandomState(44)
    features, captions = rng.randn(2, 3), tiny_captions(rng, 2, 4)
    model = tiny_model(ctx, cell_type, 45, D=3, W=3, H=3)
    _, grads = call(model.loss, 'CaptioningRNN.loss', ('loss', 'grads'), features, captions)
    where = '%s model, N=2, T=4, D=3, W=3, H=3, seed 44' % cell_type
    for k in sorted(model.params):
        if k not in grads:
            raise AssertionError('grads has no entry %r (it must have one per parameter)' % k)
        f = lambda _: model.loss(features.copy(), captions.copy())[0]   # reads the perturbed model.params[k]
        numeric_close(ctx, 'grads[%r]' % k, f, model.params[k], None, grads[k], 1e-6, where)


def captioning_loss_rnn_cases(ctx):
    _loss_cases(ctx, 'rnn')


def captioning_loss_lstm_cases(ctx):
    _loss_cases(ctx, 'lstm')


# ----------------------------------------------------------------- training

def _overfit(ctx, cell_type):
    """60 steps of Adam on 8 captions with the student's whole model: the loss
    must fall to a fifth of where it started (the reference gets far below)."""
    rng = np.random.RandomState(51)
    features = rng.randn(8, 10)
    captions = tiny_captions(rng, 8, 7, min_words=2)
    model = tiny_model(ctx, cell_type, seed=52, D=10, W=8, H=16, scale=0.3)
    losses = adam_steps(ctx, model, model.loss, features, captions, steps=60, lr=3e-2)
    if not np.all(np.isfinite(losses)):
        raise AssertionError('the loss became NaN or inf while training (%s)' % cell_type)
    if not losses[-1] < 0.2 * losses[0]:
        raise AssertionError('after 60 Adam steps on 8 captions the %s loss went from %.2f to %.2f; '
                             'it should fall below a fifth of where it started'
                             % (cell_type, losses[0], losses[-1]))


def overfit_rnn(ctx):
    _overfit(ctx, 'rnn')


def overfit_lstm(ctx):
    _overfit(ctx, 'lstm')


# ----------------------------------------------------------------- sampling

def _check_sample(got, want, max_length, where):
    got = np.asarray(got)
    if got.shape != want.shape:
        raise AssertionError('sample returned shape %s; expected (N, max_length) = %s (%s)'
                             % (got.shape, want.shape, where))
    if not np.issubdtype(got.dtype, np.integer):
        raise AssertionError('sample should return integer word ids, not %s (%s)' % (got.dtype, where))
    if (got[:, 0] == START).any() and not (want[:, 0] == START).any():
        raise AssertionError('column 0 must hold the first generated word, not <START> (%s)' % where)
    for i, row in enumerate(got):
        hit = np.flatnonzero(row == END)
        if len(hit) and (row[hit[0] + 1:] != NULL).any():
            raise AssertionError('caption %d goes on after <END>: the rest of its row must be <NULL> (%s)'
                                 % (i, where))
    bad = np.argwhere(got != want)
    if len(bad):
        i, t = bad[0]
        word = lambda k: WORDS[k] if 0 <= k < len(WORDS) else str(k)
        raise AssertionError('caption %d, step %d: got %r where the greedy choice is %r (%s)'
                             % (i, t, word(got[i, t]), word(want[i, t]), where))


def _sample_cases(ctx, cell_type):
    model, features, _ = trained_tiny_model(ctx, cell_type)
    for max_length in (12, 3, 1):
        got = call(model.sample, 'CaptioningRNN.sample', ('captions',), features, max_length=max_length)
        want = ctx.RefModel.sample(model, features, max_length=max_length)
        _check_sample(got, want, max_length, 'trained tiny %s model, max_length=%d' % (cell_type, max_length))
    # an untrained random model: the greedy chain, whatever it says
    model = tiny_model(ctx, cell_type, seed=61, scale=1.0)
    features = np.random.RandomState(62).randn(3, 6)
    got = call(model.sample, 'CaptioningRNN.sample', ('captions',), features, max_length=9)
    want = ctx.RefModel.sample(model, features, max_length=9)
    _check_sample(got, want, 9, 'random tiny %s model, max_length=9' % cell_type)


def sample_rnn_cases(ctx):
    _sample_cases(ctx, 'rnn')


def sample_lstm_cases(ctx):
    _sample_cases(ctx, 'lstm')


def _namespace(ctx, cell_type, name):
    model, features, _ = trained_tiny_model(ctx, cell_type)
    small_data = {'train_features': features, 'word_to_idx': dict(model.word_to_idx),
                  'idx_to_word': list(WORDS)}
    return {name: model, 'small_data': small_data}


def sample_namespace_rnn(ctx):
    """For the notebook's sampling check: small_rnn_model and small_data."""
    return _namespace(ctx, 'rnn', 'small_rnn_model')


def sample_namespace_lstm(ctx):
    """For the notebook's sampling check: small_lstm_model and small_data."""
    return _namespace(ctx, 'lstm', 'small_lstm_model')
