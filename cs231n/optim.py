"""First-order update rules.

Every rule has the form

    next_w, config = update(w, dw, config=None)

with w the weights, dw the gradient of the loss with respect to w (same shape),
and config a dict of hyperparameters and state (moving averages, step count)
that the caller keeps and passes back at the next step. Missing entries get the
defaults below.
"""
import math

import numpy as np


def _check(rule, w, dw):
    """dw must match w: a smaller one would broadcast into a wrong update."""
    if np.shape(dw) != np.shape(w):
        raise ValueError('%s: dw must have the shape of w, %s; got %s' % (rule, np.shape(w), np.shape(dw)))


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent.

    config: learning_rate (default 1e-2).
    """
    _check('sgd', w, dw)
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    w -= config['learning_rate'] * dw
    return w, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: a velocity accumulates the gradients.

    config: learning_rate (1e-2), momentum (0.9), velocity (zeros like w).
    """
    _check('sgd_momentum', w, dw)
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    v = config.get('velocity', np.zeros_like(w))
    v = config['momentum'] * v - config['learning_rate'] * dw
    next_w = w + v
    config['velocity'] = v
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp: scale each step by a running average of squared gradients.

    config: learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8),
    cache (zeros like w).
    """
    _check('rmsprop', w, dw)
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('decay_rate', 0.99)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('cache', np.zeros_like(w))
    rho = config['decay_rate']
    cache = rho * config['cache'] + (1 - rho) * dw * dw
    next_w = w - config['learning_rate'] * dw / (np.sqrt(cache) + config['epsilon'])
    config['cache'] = cache
    return next_w, config


def adam(w, dw, config=None):
    """Adam: bias-corrected running averages of the gradient and its square.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8),
    m and v (zeros like w), t (0, the step count).
    """
    _check('adam', w, dw)
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-3)
    config.setdefault('beta1', 0.9)
    config.setdefault('beta2', 0.999)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('m', np.zeros_like(w))
    config.setdefault('v', np.zeros_like(w))
    config.setdefault('t', 0)
    b1, b2 = config['beta1'], config['beta2']
    t = config['t'] + 1
    m = b1 * config['m'] + (1 - b1) * dw
    v = b2 * config['v'] + (1 - b2) * (dw * dw)
    # the bias corrections folded into the step size, as in the assignment's
    # optim.py (epsilon is added to sqrt(v), not to the corrected sqrt(v_hat))
    alpha = config['learning_rate'] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)   # a Python float: keeps float32
    next_w = w - alpha * (m / (np.sqrt(v) + config['epsilon']))
    config['m'], config['v'], config['t'] = m, v, t
    return next_w, config
