"""Update rules against updates computed by hand."""
import numpy as np

from cs231n import optim


def test_sgd():
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    next_w, cfg = optim.sgd(w.copy(), dw)
    assert cfg['learning_rate'] == 1e-2
    assert np.allclose(next_w, [1 - 0.005, -2 - 0.0025])


def test_sgd_momentum_two_steps():
    w, dw = np.array([1.0, 2.0]), np.array([0.1, -0.2])
    w1, cfg = optim.sgd_momentum(w, dw, {'learning_rate': 0.1})
    assert cfg['momentum'] == 0.9
    v1 = -0.1 * dw
    assert np.allclose(w1, w + v1)
    w2, cfg = optim.sgd_momentum(w1, dw, cfg)
    v2 = 0.9 * v1 - 0.1 * dw
    assert np.allclose(w2, w1 + v2) and np.allclose(cfg['velocity'], v2)


def test_rmsprop_two_steps():
    w, dw = np.array([1.0, -1.0]), np.array([0.3, 0.4])
    w1, cfg = optim.rmsprop(w, dw)
    assert (cfg['learning_rate'], cfg['decay_rate'], cfg['epsilon']) == (1e-2, 0.99, 1e-8)
    c1 = 0.01 * dw ** 2
    assert np.allclose(w1, w - 1e-2 * dw / (np.sqrt(c1) + 1e-8))
    w2, cfg = optim.rmsprop(w1, dw, cfg)
    c2 = 0.99 * c1 + 0.01 * dw ** 2
    assert np.allclose(w2, w1 - 1e-2 * dw / (np.sqrt(c2) + 1e-8))


def test_adam_two_steps():
    w, g1, g2 = np.array([0.5, -0.5]), np.array([0.2, -0.1]), np.array([-0.3, 0.4])
    w1, cfg = optim.adam(w, g1)
    assert (cfg['learning_rate'], cfg['beta1'], cfg['beta2'], cfg['epsilon']) == (1e-3, 0.9, 0.999, 1e-8)
    assert cfg['t'] == 1
    # the first bias-corrected step moves each weight by about lr against the gradient sign
    assert np.allclose(w1, w - 1e-3 * np.sign(g1), atol=1e-9)
    w2, cfg = optim.adam(w1, g2, cfg)
    m = 0.9 * (0.1 * g1) + 0.1 * g2
    v = 0.999 * (0.001 * g1 ** 2) + 0.001 * g2 ** 2
    # the assignment's form: corrections in the step size, epsilon added to sqrt(v)
    step = 1e-3 * np.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2)
    expected = w1 - step * m / (np.sqrt(v) + 1e-8)
    assert cfg['t'] == 2 and np.allclose(w2, expected, rtol=1e-15, atol=0)
    # not the textbook form with epsilon added to sqrt(v_hat) (it differs by about 1e-10 here)
    textbook = w1 - 1e-3 * (m / (1 - 0.9 ** 2)) / (np.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    assert not np.array_equal(w2, textbook)


def test_adam_with_a_tiny_gradient_uses_the_assignments_epsilon():
    """With gradients near epsilon the two forms differ clearly: the first step
    is lr * g / (|g| + eps / sqrt(1 - beta2)) in the assignment's form."""
    w, g = np.zeros(1), np.array([1e-8])
    w1, _ = optim.adam(w, g)
    want = -1e-3 * 1e-8 / (1e-8 + 1e-8 / np.sqrt(1 - 0.999))
    assert np.isclose(w1[0], want, rtol=1e-9), (w1[0], want)


def test_update_rules_keep_float32():
    w = np.ones(3, dtype=np.float32)
    dw = np.full(3, 0.5, dtype=np.float32)
    for rule in (optim.sgd, optim.sgd_momentum, optim.rmsprop, optim.adam):
        next_w, cfg = rule(w.copy(), dw, None)
        next_w, cfg = rule(next_w, dw, cfg)
        assert next_w.dtype == np.float32, rule.__name__


def test_gradient_check_restores_x_and_is_centred():
    from cs231n.gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                                       grad_check_sparse)
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    before = x.copy()
    g = eval_numerical_gradient(lambda v: np.sum(v ** 3), x, verbose=False)
    assert np.array_equal(x, before)
    assert np.allclose(g, 3 * x ** 2, rtol=1e-8)          # centred: error O(h^2)
    df = np.array([[1.0, 2.0], [-1.0, 0.5]])
    ga = eval_numerical_gradient_array(lambda v: np.sin(v), x, df)
    assert np.array_equal(x, before) and np.allclose(ga, np.cos(x) * df, rtol=1e-8)
    errs = grad_check_sparse(lambda v: np.sum(v ** 3), x, 3 * x ** 2, num_checks=5)
    assert np.array_equal(x, before) and max(errs) < 1e-8

    def boom(v):
        raise RuntimeError('f failed')
    try:
        eval_numerical_gradient(boom, x, verbose=False)
    except RuntimeError:
        pass
    assert np.array_equal(x, before)                       # restored even when f raises


def test_update_rules_refuse_a_gradient_of_another_shape():
    import pytest
    w = np.ones((3, 4))
    for rule in (optim.sgd, optim.sgd_momentum, optim.rmsprop, optim.adam):
        for dw in (np.ones(4), np.ones((4, 3))):          # one would broadcast silently
            with pytest.raises(ValueError, match=r'^%s: dw must have the shape of w, \(3, 4\); got '
                                                 % rule.__name__):
                rule(w.copy(), dw, None)
