"""The gradient checks refuse inputs that would give a wrong numerical
gradient without a word: integer x, a df or analytic gradient of another
shape, a non-scalar f; and they warn about float32."""
import re
import warnings

import numpy as np
import pytest

from cs231n.gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                                   grad_check_sparse)

X = np.array([[0.3, -1.2], [2.0, 0.7]])


def test_integer_or_non_array_x_is_refused():
    for fn, args in [(eval_numerical_gradient, (lambda v: v.sum(),)),
                     (eval_numerical_gradient_array, (lambda v: v, np.ones((2, 2)))),
                     (grad_check_sparse, (lambda v: v.sum(), np.ones((2, 2))))]:
        with pytest.raises(ValueError, match=r'%s: x must be a floating-point array; got dtype int64'
                                             % fn.__name__):
            fn(args[0], np.ones((2, 2), dtype=np.int64), *args[1:])
        with pytest.raises(ValueError, match=r'%s: x must be a numpy array .*got list' % fn.__name__):
            fn(args[0], [[1.0, 2.0]], *args[1:])


def test_df_and_analytic_grad_must_have_the_right_shape():
    with pytest.raises(ValueError, match=r'df must have the shape of f\(x\), \(2, 2\); got \(2,\)'):
        eval_numerical_gradient_array(np.sin, X.copy(), np.ones(2))   # would broadcast silently
    with pytest.raises(ValueError, match=r'analytic_grad must have the shape of x, \(2, 2\); got \(4,\)'):
        grad_check_sparse(lambda v: v.sum(), X.copy(), np.ones(4))


def test_f_must_be_scalar_for_eval_numerical_gradient():
    with pytest.raises(ValueError, match=r'f must return a scalar; got an array of shape \(2, 2\) '
                                         r'.*eval_numerical_gradient_array'):
        eval_numerical_gradient(np.sin, X.copy(), verbose=False)
    g = eval_numerical_gradient(lambda v: np.sum(v ** 2, keepdims=True), X.copy(), verbose=False)
    assert np.allclose(g, 2 * X)                                      # a size-1 result is fine


def test_float32_warns_and_float64_does_not():
    with pytest.warns(RuntimeWarning, match=r'x is float32: .*float64'):
        eval_numerical_gradient(lambda v: np.sum(v ** 2), X.astype(np.float32), verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        eval_numerical_gradient(lambda v: np.sum(v ** 2), X.copy(), verbose=False)
        eval_numerical_gradient_array(np.sin, X.copy(), np.ones((2, 2)))


class _Quadratic:
    """loss = sum(a * w**2) + sum(b); grads as given, to be right or wrong."""

    def __init__(self, drop=None, wrong=None):
        rng = np.random.default_rng(3)
        self.params = {'w': rng.standard_normal((3, 2)), 'b': rng.standard_normal(4)}
        self.a, self.drop, self.wrong = rng.standard_normal((3, 2)), drop, wrong

    def loss(self, features, captions):
        w, b = self.params['w'], self.params['b']
        grads = {'w': 2 * self.a * w, 'b': np.ones_like(b)}
        if self.wrong:
            grads[self.wrong] = grads[self.wrong] * 1.1
        if self.drop:
            del grads[self.drop]
        return float(np.sum(self.a * w ** 2) + b.sum()), grads


def _max_rel(x, y):
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def test_model_gradient_errors_every_parameter_and_can_fail():
    from cs231n.gradient_check import model_gradient_errors
    errors = model_gradient_errors(_Quadratic(), None, None, _max_rel)
    assert list(errors) == ['b', 'w'] and max(errors.values()) < 1e-8
    bad = model_gradient_errors(_Quadratic(wrong='w'), None, None, _max_rel)
    assert bad['w'] > 0.04 and bad['b'] < 1e-8
    with pytest.raises(ValueError, match=r"grads has no \['b'\]: loss must return a gradient for every parameter"):
        model_gradient_errors(_Quadratic(drop='b'), None, None, _max_rel)
    model = _Quadratic()
    before = {k: v.copy() for k, v in model.params.items()}
    model_gradient_errors(model, None, None, _max_rel)
    assert all(np.array_equal(model.params[k], before[k]) for k in before)   # parameters restored


def test_every_captioning_parameter_has_a_gradient_hint():
    import numpy as np
    from cs231n.classifiers.rnn import CaptioningRNN
    from cs231n.gradient_check import CAPTIONING_GRAD_PATHS
    for cell in ('rnn', 'lstm'):
        model = CaptioningRNN({'<NULL>': 0, '<START>': 1, '<END>': 2}, input_dim=3, wordvec_dim=2,
                              hidden_dim=2, cell_type=cell, dtype=np.float64)
        assert set(CAPTIONING_GRAD_PATHS) == set(model.params)
        for name, text in CAPTIONING_GRAD_PATHS.items():
            assert re.search(r'(?<![\w_])%s(?![\w_])' % name, text), name   # each hint names its parameter
