"""Helpers of the hidden checks (instructor-only).

A check is a function `name(ctx)` of a module of this folder; it passes when it
returns and fails with the message of the AssertionError it raises. `ctx` gives:

    ctx.layers    the student's cs231n.rnn_layers: the functions of the part
                  under test are the student's, all others the reference's
    ctx.Model     the student's CaptioningRNN class (methods swapped the same way)
    ctx.ref       the reference rnn_layers module
    ctx.RefModel  the reference CaptioningRNN class
    ctx.optim     the instructor's optimizers (cs231n.optim)
    ctx.gradient_check  the instructor's numerical gradients (cs231n.gradient_check)

Every student function gets copies of its inputs, so what it does to them
cannot change the reference's inputs. Comparisons use the error relative to
the size of the expected array (max |got - want| / max |want|): two correct
float64 implementations agree to about 1e-15, a wrong one is off by far more.
"""
import numpy as np


def scaled_error(got, want):
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    scale = max(np.max(np.abs(want)) if want.size else 0.0, 1e-12)
    return float(np.max(np.abs(got - want)) / scale) if want.size else 0.0


def describe(value):
    if isinstance(value, np.ndarray):
        return 'an array of shape %s' % (value.shape,)
    if isinstance(value, (tuple, list)):
        return 'a %s of %d values' % (type(value).__name__, len(value))
    return 'a %s' % type(value).__name__


def call(fn, name, outputs, *args, **kwargs):
    """Call a student function on copies of its array arguments; check it returns
    `outputs` values (a tuple of names) when more than one is expected."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    result = fn(*args, **kwargs)
    if len(outputs) > 1:
        if not isinstance(result, (tuple, list)) or len(result) != len(outputs):
            raise AssertionError('%s should return %d values (%s); it returned %s'
                                 % (name, len(outputs), ', '.join(outputs), describe(result)))
    return result


def close(label, got, want, tol, where):
    """Assert that got matches want (same shape, finite, scaled error below tol)."""
    if got is None:
        raise AssertionError('%s is None (%s)' % (label, where))
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError('%s is not an array of numbers (%s)' % (label, where)) from None
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError('%s has shape %s, expected %s (%s)' % (label, got.shape, want.shape, where))
    if not np.all(np.isfinite(got)):
        raise AssertionError('%s holds NaN or inf values (%s)' % (label, where))
    err = scaled_error(got, want)
    if not err < tol:
        raise AssertionError('%s is wrong: error %.1e relative to its size, above %.0e (%s)'
                             % (label, err, tol, where))


def numeric_close(ctx, label, f, x, df, analytic, tol, where):
    """Assert that `analytic` is the numerical gradient of sum(f(x) * df) at x
    (of f(x) itself when df is None: a scalar function)."""
    gc = ctx.gradient_check
    if df is None:
        num = gc.eval_numerical_gradient(f, x, verbose=False, h=1e-6)
    else:
        num = gc.eval_numerical_gradient_array(f, x, df)
    close(label + ' (against a numerical gradient)', analytic, num, tol, where)


def rng_arrays(seed, *shapes, scale=1.0):
    rng = np.random.RandomState(seed)
    return [scale * rng.randn(*s) for s in shapes]


# ----------------------------------------------------------------------------
# Tiny captioning problems
# ----------------------------------------------------------------------------

WORDS = ['<NULL>', '<START>', '<END>', '<UNK>', 'a', 'red', 'blue', 'green', 'circle', 'square',
         'triangle', 'on', 'the', 'left', 'right', 'big', 'small']
WORD_TO_IDX = {w: i for i, w in enumerate(WORDS)}
NULL, START, END = 0, 1, 2


def tiny_captions(rng, N, T, V=len(WORDS), min_words=1):
    """(N, T) captions: <START>, words, <END>, then <NULL> padding; lengths vary."""
    caps = np.full((N, T), NULL, dtype=np.int64)
    caps[:, 0] = START
    for i in range(N):
        n = rng.randint(min_words, T - 1)  # number of words, <END> at n + 1 <= T - 1
        caps[i, 1:n + 1] = rng.randint(4, V, size=n)
        caps[i, n + 1] = END
    return caps


def tiny_model(ctx, cell_type, seed, D=6, W=5, H=7, scale=0.5):
    """A float64 model of the student's class with random parameters."""
    model = ctx.Model(dict(WORD_TO_IDX), input_dim=D, wordvec_dim=W, hidden_dim=H,
                      cell_type=cell_type, dtype=np.float64)
    rng = np.random.RandomState(seed)
    for k in sorted(model.params):
        model.params[k] = scale * rng.randn(*model.params[k].shape)
    return model


def adam_steps(ctx, model, loss_fn, features, captions, steps, lr):
    """Train model in place with the instructor's Adam; return the losses."""
    configs, losses = {}, []
    for _ in range(steps):
        loss, grads = loss_fn(features, captions)
        losses.append(float(loss))
        for k in sorted(model.params):
            if k not in grads:
                raise AssertionError('grads has no entry %r (it must have one per parameter)' % k)
            config = configs.get(k, {'learning_rate': lr})
            model.params[k], configs[k] = ctx.optim.adam(model.params[k], np.asarray(grads[k]), config)
    return losses


_trained = {}


def trained_tiny_model(ctx, cell_type):
    """A tiny model trained (with the reference loss) to say the captions of 10
    images, of different lengths: its greedy captions end at different steps.
    Returns (model, features, captions); the parameters are the same for every
    student (a fresh model of the student's class gets a copy of them)."""
    if cell_type not in _trained:
        rng = np.random.RandomState(7)
        features = rng.randn(10, 6)
        captions = tiny_captions(rng, 10, 8, min_words=1)
        model = tiny_model(ctx, cell_type, seed=8, scale=0.3)
        ref_loss = lambda f, c: ctx.RefModel.loss(model, f, c)
        adam_steps(ctx, model, ref_loss, features, captions, steps=150, lr=2e-2)
        _trained[cell_type] = ({k: v.copy() for k, v in model.params.items()}, features, captions)
    params, features, captions = _trained[cell_type]
    model = tiny_model(ctx, cell_type, seed=8)
    model.params = {k: v.copy() for k, v in params.items()}
    return model, features.copy(), captions.copy()
