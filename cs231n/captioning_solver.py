"""Training loop for captioning models, with checkpoints to resume a run."""
import os
import pickle
import tempfile

import numpy as np

from . import optim
from .coco_utils import check_split, sample_coco_minibatch


# The settings each built-in update rule reads from its config (cs231n/optim.py);
# the optimizer's own state (velocity, m, v, t, cache) is not set by hand.
_HYPERPARAMETERS = {'sgd': ('learning_rate',), 'sgd_momentum': ('learning_rate', 'momentum'),
                    'rmsprop': ('learning_rate', 'decay_rate', 'epsilon'),
                    'adam': ('learning_rate', 'beta1', 'beta2', 'epsilon')}


class CaptioningSolver:
    """Trains a captioning model with minibatch gradient descent.

    Example:

        data = load_coco_data(max_train=10000)
        model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1])
        solver = CaptioningSolver(model, data, update_rule='adam',
                                  optim_config={'learning_rate': 5e-3},
                                  lr_decay=0.95, num_epochs=10, batch_size=100)
        solver.train()
        plt.plot(solver.loss_history)

    The model must have a dict `params` of arrays and a method
    `loss(features, captions) -> (loss, grads)` with grads keyed like params.
    One epoch is max(num_train_captions // batch_size, 1) iterations. grads
    that miss a parameter or have another shape stop training with a
    ValueError naming it; a gradient of another float type than its
    parameter (float64 for a float32 model) is said once. A step interrupted
    half-way (Ctrl-C) is undone whole: the model, the optimizer state and
    loss_history are as after the last complete iteration.

    Checkpoints: with checkpoint_path set, train() saves the parameters, the
    optimizer state, the iteration count, the loss history and the random
    state there every checkpoint_every iterations and at the end, and resumes
    from that file if it already exists, so a run killed half-way goes on where
    it was. save_checkpoint / load_checkpoint do the same by hand.
    """

    def __init__(self, model, data, update_rule='sgd', optim_config={}, lr_decay=1.0,
                 batch_size=100, num_epochs=10, print_every=10, verbose=True,
                 checkpoint_path=None, checkpoint_every=None):
        """
        Inputs:
        - model: A captioning model (e.g. CaptioningRNN)
        - data: Dict from load_coco_data
        - update_rule: Name of an update rule in cs231n.optim ('sgd',
          'sgd_momentum', 'rmsprop', 'adam') or such a function
        - optim_config: Hyperparameters of the update rule (e.g. learning_rate);
          every parameter gets its own copy
        - lr_decay: The learning rate is multiplied by this after every epoch
        - batch_size: Captions per minibatch
        - num_epochs: Epochs to train for
        - print_every: Print the loss every this many iterations
        - verbose: Print progress
        - checkpoint_path: Where train() saves and resumes from (optional)
        - checkpoint_every: Iterations between checkpoints (default: every epoch)
        """
        check_split(data, 'train', 'CaptioningSolver')
        self.model = model
        self.data = data
        if isinstance(update_rule, str):
            if update_rule not in ('sgd', 'sgd_momentum', 'rmsprop', 'adam'):
                raise ValueError("update_rule must be one of 'sgd', 'sgd_momentum', 'rmsprop', "
                                 "'adam' (or a function); got %r" % (update_rule,))
            self.update_rule = getattr(optim, update_rule)
        elif callable(update_rule):
            self.update_rule = update_rule
        else:
            raise ValueError('update_rule must be a name or a function, got %r' % (update_rule,))
        for name, value, low in (('batch_size', batch_size, 1), ('num_epochs', num_epochs, 0),
                                 ('print_every', print_every, 1)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError('%s must be an integer >= %d; got %r' % (name, low, value))
        if (isinstance(lr_decay, bool) or not isinstance(lr_decay, (int, float, np.floating))
                or not 0 < lr_decay < np.inf):
            raise ValueError('lr_decay must be a positive number (1.0: no decay, 0.95: 5 %% less '
                             'every epoch); got %r' % (lr_decay,))
        if checkpoint_every is not None and (not isinstance(checkpoint_every, (int, np.integer))
                                             or isinstance(checkpoint_every, bool) or checkpoint_every < 1):
            raise ValueError('checkpoint_every must be an integer >= 1 (iterations between checkpoints) '
                             'or None (every epoch); got %r' % (checkpoint_every,))
        if not isinstance(optim_config, dict):
            raise ValueError('optim_config must be a dict (e.g. {\'learning_rate\': 5e-3}); got %r'
                             % (optim_config,))
        known = _HYPERPARAMETERS.get(update_rule if isinstance(update_rule, str) else None)
        for key, value in optim_config.items():
            if known is not None and key not in known:
                raise ValueError('optim_config: %r is not a setting of %s; its settings are %s'
                                 % (key, update_rule, ', '.join(known)))
            if known is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.floating))):
                raise ValueError('optim_config[%r] must be a number (e.g. 5e-3); got %r' % (key, value))
        if checkpoint_path is not None and os.path.isdir(checkpoint_path):
            raise ValueError('checkpoint_path %s is a folder: give a file name in it, e.g. %s'
                             % (checkpoint_path, os.path.join(checkpoint_path, 'run.ckpt')))
        self.optim_config = dict(optim_config)
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.print_every = print_every
        self.verbose = verbose
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self._reset()

    def _reset(self):
        self.epoch = 0
        self.iteration = 0
        self.loss_history = []
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}
        self._undo = None
        self._told_float_type = False
        # What _step must copy to be able to go back after a bad update. sgd
        # changes w in place, the other rules of optim.py return new arrays
        # (their state too), and a rule of one's own, or an edited optim.py,
        # may do either: everything is copied until an update shows what the
        # rule does (None: not known yet), for the state once there is state.
        self._copy_params = None
        self._copy_state = None

    @property
    def iterations_per_epoch(self):
        return max(self.data['train_captions'].shape[0] // self.batch_size, 1)

    @property
    def num_iterations(self):
        return self.num_epochs * self.iterations_per_epoch

    def _step(self):
        """One gradient update on a random minibatch, then the iteration count
        (and at the end of an epoch the learning-rate decay). Interrupted half-way
        (Ctrl-C), it puts everything back as it was before the step."""
        captions, features, _ = sample_coco_minibatch(self.data, batch_size=self.batch_size,
                                                      split='train')
        loss, grads = self.model.loss(features, captions)
        self._check_grads(grads)
        if not np.isfinite(loss):
            self._stop_on_bad_loss(loss)
        # what the next step needs to go back here, should this update break the model
        copy_w, copy_s = self._copy_params is not False, self._copy_state is not False
        params = {p: w.copy() if copy_w else w for p, w in self.model.params.items()}
        state = {p: {k: v.copy() if copy_s and isinstance(v, np.ndarray) else v
                     for k, v in cfg.items()} for p, cfg in self.optim_configs.items()}
        self._undo = (self.iteration, self.epoch, params, state)
        try:
            self.loss_history.append(float(loss))
            old = dict(self.model.params), {p: dict(cfg) for p, cfg in self.optim_configs.items()}
            for p, w in self.model.params.items():
                next_w, self.optim_configs[p] = self.update_rule(w, grads[p], self.optim_configs[p])
                self.model.params[p] = next_w
            if self._copy_params is None or self._copy_state is None:
                self._learn_what_the_rule_changes(*old, params, state)
            self.iteration += 1
            if self.iteration % self.iterations_per_epoch == 0:
                self.epoch += 1
                for cfg in self.optim_configs.values():
                    if 'learning_rate' in cfg:
                        cfg['learning_rate'] *= self.lr_decay
        except BaseException:
            self._go_back()
            raise

    def _go_back(self):
        """Put the parameters, the optimizer state, the counts and the loss
        history back to before the last step."""
        self.iteration, self.epoch, params, self.optim_configs = self._undo
        self.model.params.update(params)
        self.loss_history = self.loss_history[:self.iteration]
        self._undo = None

    def _check_grads(self, grads):
        """model.loss must give one gradient per parameter, of its shape; a
        gradient of another float type than its parameter is said once (the
        update would silently change the parameter's type)."""
        if not isinstance(grads, dict) or set(grads) != set(self.model.params):
            if not isinstance(grads, dict):
                raise ValueError('model.loss must return (loss, grads) with grads a dict keyed like '
                                 'model.params; grads is a %s' % type(grads).__name__)
            missing, extra = sorted(set(self.model.params) - set(grads)), sorted(set(grads) - set(self.model.params))
            raise ValueError('model.loss returned grads with %s: grads must have exactly the keys of '
                             'model.params (%s)' % (' and '.join(
                                 part for part in ('no %s' % ', '.join(missing) if missing else '',
                                                   'keys that are not parameters: %s' % ', '.join(extra)
                                                   if extra else '') if part),
                                 ', '.join(sorted(self.model.params))))
        other = []     # (name, gradient dtype, parameter dtype)
        for p, w in self.model.params.items():
            g = np.asarray(grads[p])
            if g.shape != np.shape(w):
                raise ValueError('model.loss returned grads[%r] of shape %s; it must have the shape of '
                                 'the parameter, %s' % (p, g.shape, np.shape(w)))
            if g.dtype != np.asarray(w).dtype:
                other.append((p, g.dtype, np.asarray(w).dtype))
        if other and not self._told_float_type:
            self._told_float_type = True
            names = ', '.join("grads[%r]" % p for p, _, _ in other)
            _, g_type, w_type = other[0]
            print('Note: %s %s %s while the parameters are %s: some array in the loss is made without '
                  'dtype (np.zeros(shape) is float64; use dtype=x.dtype), in the layers these gradients '
                  'come from. The update makes the parameters %s too, and float64 makes training about '
                  'twice as slow.' % (names, 'is' if len(other) == 1 else 'are', g_type, w_type,
                                      np.result_type(g_type, w_type)))

    def _learn_what_the_rule_changes(self, old_params, old_state, params, state):
        """After an update made with everything copied: whether the rule
        changed the parameters (or, once there was state, its state arrays)
        in place, or returned them as arrays of their own; in place, they must
        be copied before every update."""
        def in_place(before, copy, after):   # changed since copied, or returned as the result
            shared = isinstance(after, np.ndarray) and np.may_share_memory(before, after)
            return shared or not np.array_equal(before, copy)

        if self._copy_params is None:
            self._copy_params = any(in_place(w, params[p], self.model.params[p]) for p, w in old_params.items())
        pairs = [(v, state[p][k], self.optim_configs[p].get(k)) for p, cfg in old_state.items()
                 for k, v in cfg.items() if isinstance(v, np.ndarray)]
        if self._copy_state is None and pairs:
            self._copy_state = any(in_place(v, copy, after) for v, copy, after in pairs)

    def _stop_on_bad_loss(self, loss):
        """The loss is NaN or infinite (loss None: the run's last update made
        parameters so): put the parameters and the optimizer state back to
        before the update that caused it, then stop."""
        if self._undo is None:
            if self.iteration > 0:
                raise FloatingPointError(
                    'The loss is %s at iteration %d, the first of this run: the parameters it '
                    'started from (a checkpoint, or an earlier run) are already broken. Start '
                    'again from a fresh model, with a smaller learning_rate.' % (loss, self.iteration + 1))
            raise FloatingPointError(
                'The loss is %s on the first minibatch (iteration %d), before any update: the '
                'model or the data give it, not the learning rate. Check the features and '
                'the parameters for NaN or huge values.' % (loss, self.iteration + 1))
        bad = self.iteration + 1
        self._go_back()
        lr = next(iter(self.optim_configs.values()), {}).get('learning_rate')
        saved = ''
        if self.checkpoint_path:
            self.save_checkpoint(self.checkpoint_path)
            saved = ' (and saved to %s)' % self.checkpoint_path
        what = ('The last update of the run, at iteration %d, made parameters NaN or infinite'
                % (self.iteration + 1) if loss is None else
                'The loss became %s at iteration %d: the update of iteration %d made the parameters '
                'blow up' % (loss, bad, self.iteration + 1))
        raise FloatingPointError(
            '%s. The parameters and the optimizer state are back to where they were before '
            'that update, at iteration %d%s. Train on with a smaller learning_rate (it was %s): '
            'a new CaptioningSolver for the same model, with no checkpoint_path or a new one (a '
            'checkpoint keeps the learning rate it was written with).'
            % (what, self.iteration, saved,
               'the update rule\'s default' if lr is None else repr(lr)))

    def train(self):
        """Run the optimisation for num_epochs. As in the official solver,
        every call trains num_epochs more (run the cell again to train on).
        With checkpoint_path set and the file there, it resumes that run
        instead and trains up to its num_epochs in all. Returns nothing: the
        losses are in self.loss_history."""
        start = self.iteration          # this call trains from here ...
        if self.checkpoint_path and os.path.exists(self.checkpoint_path):
            self.load_checkpoint(self.checkpoint_path)
            start = 0                   # ... or the saved run goes on
            if self.iteration >= self.num_iterations:
                print('Note: the run saved in %s is at iteration %d, %s the %d iterations of this run '
                      '(num_epochs=%d, batch_size=%d): nothing left to train, the model holds its parameters. '
                      'Give a larger num_epochs to train on from there, or another checkpoint_path to start over.'
                      % (self.checkpoint_path, self.iteration,
                         'the end of' if self.iteration == self.num_iterations else 'past',
                         self.num_iterations, self.num_epochs, self.batch_size))
            elif self.verbose:
                print('Resuming from %s at iteration %d / %d'
                      % (self.checkpoint_path, self.iteration, self.num_iterations))
        every = self.checkpoint_every or self.iterations_per_epoch
        n = self.num_iterations
        end = start + n
        while self.iteration < end:
            t = self.iteration - start  # counted from this run's start, as printed
            self._step()
            if self.verbose and t % self.print_every == 0:
                print('(Iteration %d / %d) loss: %f' % (t + 1, n, self.loss_history[-1]))
            if self.iteration == end and not all(np.isfinite(w).all() for w in self.model.params.values()):
                self._stop_on_bad_loss(None)
            if self.checkpoint_path and (self.iteration % every == 0 or self.iteration == end):
                self.save_checkpoint(self.checkpoint_path)

    # ------------------------------------------------------------------
    def save_checkpoint(self, path):
        """Write parameters, optimizer state, progress and the random state to
        path, atomically (a crash while saving leaves the old file intact)."""
        state = {
            'params': {k: np.array(v) for k, v in self.model.params.items()},
            'optim_configs': self.optim_configs,
            'iteration': self.iteration,
            'epoch': self.epoch,
            'loss_history': list(self.loss_history),
            'random_state': np.random.get_state(),
            'num_epochs': self.num_epochs,
            'batch_size': self.batch_size,
            'update_rule': _rule_name(self.update_rule),
            'optim_config': dict(self.optim_config),
        }
        if hasattr(self.model, 'word_to_idx') and hasattr(self.model, 'cell_type'):
            # what CaptioningRNN.from_checkpoint needs to rebuild the model (sizes: from params)
            state['model'] = {'word_to_idx': dict(self.model.word_to_idx), 'cell_type': self.model.cell_type,
                              'dtype': np.dtype(getattr(self.model, 'dtype', np.float32)).name}
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.ckpt-')
        try:
            with os.fdopen(fd, 'wb') as f:
                pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def load_checkpoint(self, path):
        """Restore what save_checkpoint wrote (only load files you wrote)."""
        state = read_checkpoint(path)
        rule = _rule_name(self.update_rule)
        if None not in (rule, state.get('update_rule')) and state['update_rule'] != rule:
            raise ValueError('checkpoint %s was written with update_rule %r, but this solver uses %r: '
                             'use the same rule to resume, or another checkpoint_path to start over'
                             % (path, state['update_rule'], rule))
        params = state['params']
        cell = getattr(self.model, 'cell_type', None)
        theirs = _model_sizes(state.get('model', {}).get('cell_type', cell), params)   # (older: no 'model')
        ours = _model_sizes(cell, self.model.params)
        if theirs and ours and theirs != ours:
            raise ValueError('checkpoint %s was written by a CaptioningRNN(%s), but this model is a '
                             'CaptioningRNN(%s): build the model the checkpoint was written for '
                             '(CaptioningRNN.from_checkpoint(path) does), or give another checkpoint_path '
                             'to start over' % (path, theirs, ours))
        changed = ['%s %r (now %r)' % (k, state[k], v) for k, v in
                   (('batch_size', self.batch_size), ('num_epochs', self.num_epochs),
                    ('optim_config', self.optim_config)) if k in state and state[k] != v]
        if set(params) != set(self.model.params):
            raise ValueError('checkpoint %s holds parameters %s, but the model has %s'
                             % (path, sorted(params), sorted(self.model.params)))
        for k, v in params.items():
            if v.shape != self.model.params[k].shape:
                raise ValueError('checkpoint %s: parameter %s has shape %s, the model expects %s'
                                 % (path, k, v.shape, self.model.params[k].shape))
            self.model.params[k] = v.astype(self.model.params[k].dtype)
        if changed:   # said once the checkpoint fits the model
            print('Note: %s was written with %s. Resuming keeps its optimizer state (learning rate '
                  'included); the new batch_size and num_epochs apply from here on.'
                  % (path, ', '.join(changed)))
        self.optim_configs = state['optim_configs']
        self.iteration = state['iteration']
        self.epoch = state['epoch']
        self.loss_history = list(state['loss_history'])
        np.random.set_state(state['random_state'])
        self._undo = None        # nothing from before the load to go back to


def _model_sizes(cell_type, params):
    """'cell_type=..., input_dim=..., ...' of a CaptioningRNN's parameters, or None."""
    try:
        V, W = params['W_embed'].shape
        D, H = params['W_proj'].shape
    except (KeyError, ValueError, AttributeError):
        return None
    return "cell_type=%r, input_dim=%d, wordvec_dim=%d, hidden_dim=%d, %d words" % (cell_type, D, W, H, V)


def read_checkpoint(path):
    """The dict that save_checkpoint wrote to path (only load files you
    wrote: a checkpoint is a pickle); a ValueError that says what to do if it
    cannot be read."""
    try:
        with open(path, 'rb') as f:
            state = pickle.load(f)
        if not isinstance(state, dict) or not {'params', 'optim_configs', 'iteration'} <= set(state):
            raise ValueError('not a CaptioningSolver checkpoint')
    except (OSError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError,
            pickle.UnpicklingError) as e:
        raise ValueError('checkpoint %s cannot be read (%s: %s): it is not a CaptioningSolver '
                         'checkpoint, or it was cut short. Delete it (or give another '
                         'checkpoint_path) to start over.' % (path, type(e).__name__, e)) from None
    return state


def _rule_name(rule):
    """A name for an update rule that is the same in every process (None if it has none)."""
    rule = getattr(rule, 'func', rule)          # functools.partial
    return getattr(rule, '__name__', None)
