"""Numerical gradients by centred differences, to check backward passes.

Each function perturbs x in place, one entry at a time, and always puts the
original value back (even if f raises), so x is unchanged afterwards.
"""
import warnings
from random import randrange

import numpy as np


def _check_point(fn, x, h):
    """x must be a float array: it is changed in place, by steps of size h."""
    if not isinstance(x, np.ndarray):
        raise ValueError('%s: x must be a numpy array (it is changed in place and put back); '
                         'got %s' % (fn, type(x).__name__))
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError('%s: x must be a floating-point array; got dtype %s, which would round '
                         'the steps of size h away (use x.astype(np.float64))' % (fn, x.dtype))
    if x.dtype.itemsize < 8:
        warnings.warn('%s: x is %s: centred differences with h=%g are only good to about 1e-2 '
                      'in %s; check gradients in float64 (e.g. CaptioningRNN(..., '
                      'dtype=np.float64))' % (fn, x.dtype, h, x.dtype), RuntimeWarning, stacklevel=3)


def _centred(f, x, ix, h):
    """(f(x + h e_ix), f(x - h e_ix)), with x[ix] put back afterwards."""
    old = x[ix]
    try:
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
    finally:
        x[ix] = old
    return fxph, fxmh


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numerical gradient of a scalar function f at x.

    Inputs:
    - f: Function of one argument (an array shaped like x) returning a scalar
    - x: Array at which to evaluate the gradient; modified and restored
    - verbose: Print every index with its gradient
    - h: Step of the centred difference

    Returns:
    - grad: Array shaped like x with df/dx
    """
    _check_point('eval_numerical_gradient', x, h)
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        fxph, fxmh = _centred(f, x, ix, h)
        if np.size(fxph) != 1:
            raise ValueError('eval_numerical_gradient: f must return a scalar; got an array of '
                             'shape %s (for an array-valued f use eval_numerical_gradient_array('
                             'f, x, df))' % (np.shape(fxph),))
        grad[ix] = np.reshape(fxph - fxmh, ()) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of sum(f(x) * df): the backward pass of an
    array-valued function f for the upstream gradient df.

    Inputs:
    - f: Function of one argument (an array shaped like x) returning an array
    - x: Array at which to evaluate the gradient; modified and restored
    - df: Upstream gradient, shaped like f(x)
    - h: Step of the centred difference

    Returns:
    - grad: Array shaped like x
    """
    _check_point('eval_numerical_gradient_array', x, h)
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        pos, neg = _centred(lambda v: np.array(f(v), copy=True), x, ix, h)
        if pos.shape != np.shape(df):
            raise ValueError('eval_numerical_gradient_array: df must have the shape of f(x), %s; '
                             'got %s' % (pos.shape, np.shape(df)))
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5):
    """Compare analytic_grad with the numerical gradient of the scalar function
    f at num_checks random entries of x, printing one line per entry.

    Returns:
    - errors: List of the relative errors, one per checked entry
    """
    _check_point('grad_check_sparse', x, h)
    if np.shape(analytic_grad) != x.shape:
        raise ValueError('grad_check_sparse: analytic_grad must have the shape of x, %s; got %s'
                         % (x.shape, np.shape(analytic_grad)))
    errors = []
    for _ in range(num_checks):
        ix = tuple(randrange(m) for m in x.shape)
        fxph, fxmh = _centred(f, x, ix, h)
        num = (fxph - fxmh) / (2 * h)
        ana = analytic_grad[ix]
        denom = abs(num) + abs(ana)
        err = abs(num - ana) / denom if denom > 0 else 0.0
        errors.append(err)
        print('numerical: %f analytic: %f, relative error: %e' % (num, ana, err))
    return errors


def model_gradient_errors(model, features, captions, error, h=1e-5):
    """Numerical against analytic gradients of a captioning model's loss, for
    every parameter.

    Inputs:
    - model: A model with a dict `params` and loss(features, captions) -> (loss, grads)
    - features: Input features, of shape (N, D)
    - captions: Captions, of shape (N, T)
    - error: Function (numerical, analytic) -> scalar error, e.g. rel_error
    - h: Step of the centred differences

    Returns:
    - errors: Dict from parameter name to error, names in sorted order

    Raises ValueError when grads lacks a parameter of model.params.
    """
    _, grads = model.loss(features, captions)
    missing = sorted(set(model.params) - set(grads))
    if missing:
        raise ValueError('grads has no %s: loss must return a gradient for every parameter in '
                         'model.params' % missing)
    f = lambda _: model.loss(features, captions)[0]   # reads model.params, which the check perturbs in place
    return {name: error(eval_numerical_gradient(f, model.params[name], verbose=False, h=h), grads[name])
            for name in sorted(model.params)}


# Where the gradient of each CaptioningRNN parameter comes from in loss: the
# hint of a failed gradient check in the notebooks.
_PROJ = ("W_proj and b_proj get theirs from dh0 (the cell's backward pass) through "
         "h0 = features @ W_proj + b_proj.")
_EMBED = "W_embed gets its gradient from dx of the cell's backward pass, through word_embedding_backward."
_CELL = ("Wx, Wh and b get theirs from the cell's backward pass (rnn_backward or lstm_backward), "
         "fed with the dh that temporal_affine_backward returns.")
_VOCAB = ("W_vocab and b_vocab get theirs from temporal_affine_backward of the gradient that "
          "temporal_softmax_loss returns (with the mask).")
CAPTIONING_GRAD_PATHS = {'W_proj': _PROJ, 'b_proj': _PROJ, 'W_embed': _EMBED, 'Wx': _CELL, 'Wh': _CELL,
                         'b': _CELL, 'W_vocab': _VOCAB, 'b_vocab': _VOCAB}
