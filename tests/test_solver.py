"""CaptioningSolver: overfitting real COCO captions, NaN handling, checkpoints."""
import numpy as np
import pytest

from cs231n.captioning_solver import CaptioningSolver
from cs231n.classifiers.rnn import CaptioningRNN


def small_data(data, n=50):
    """n captions of n distinct images (the first caption of each image)."""
    idx = data['train_image_idxs']
    _, first = np.unique(idx, return_index=True)
    pick = np.sort(first)[:n]
    assert len(np.unique(idx[pick])) == n
    small = dict(data)
    small['train_captions'] = data['train_captions'][pick]
    small['train_image_idxs'] = idx[pick]
    return small


@pytest.mark.parametrize('cell_type,lr_decay,bound', [('rnn', 0.95, 0.2), ('lstm', 0.995, 0.5)])
def test_overfit_small_data(coco_mini_data, cell_type, lr_decay, bound, capsys):
    data = small_data(coco_mini_data)
    np.random.seed(231)
    model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1],
                          hidden_dim=512, wordvec_dim=256, cell_type=cell_type)
    solver = CaptioningSolver(model, data, update_rule='adam', num_epochs=50, batch_size=25,
                              optim_config={'learning_rate': 5e-3}, lr_decay=lr_decay,
                              verbose=True, print_every=10)
    solver.train()
    out = capsys.readouterr().out
    assert '(Iteration 1 / 100) loss: ' in out and '(Iteration 91 / 100) loss: ' in out
    assert len(solver.loss_history) == 100
    assert solver.loss_history[0] > 50                  # about 16 words x log(1004)
    assert solver.loss_history[-1] < bound, solver.loss_history[-10:]
    # a model that memorised its captions reproduces them when sampling
    feats = data['train_features'][data['train_image_idxs'][:10]]
    sampled = model.sample(feats, max_length=16)
    truth = data['train_captions'][:10, 1:]
    agree = np.mean([(sampled[i][truth[i] != 0] == truth[i][truth[i] != 0]).mean() for i in range(10)])
    assert agree > 0.8


def tiny_setup(seed=0):
    rng = np.random.RandomState(seed)
    word_to_idx = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3, 'b': 4, 'c': 5}
    caps = rng.randint(3, 6, size=(40, 7))
    caps[:, 0], caps[:, -1] = 1, 2
    data = {'train_captions': caps, 'train_image_idxs': np.arange(40),
            'train_features': rng.randn(40, 8).astype(np.float32),
            'train_urls': np.array(['u%d' % i for i in range(40)]),
            'word_to_idx': word_to_idx}
    np.random.seed(seed)
    model = CaptioningRNN(word_to_idx, input_dim=8, wordvec_dim=6, hidden_dim=10, cell_type='lstm')
    return model, data


def test_iterations_epochs_and_lr_decay():
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, update_rule='sgd', optim_config={'learning_rate': 0.1},
                              lr_decay=0.5, batch_size=10, num_epochs=3, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 12 and solver.epoch == 3
    assert all(abs(c['learning_rate'] - 0.1 * 0.5 ** 3) < 1e-12 for c in solver.optim_configs.values())


def test_training_again_trains_num_epochs_more(capsys):
    """As in the official solver, a second train() (a notebook cell run again)
    trains num_epochs more, the learning rate decaying on, and prints its
    iterations counted from its own start."""
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, update_rule='sgd', optim_config={'learning_rate': 0.1},
                              lr_decay=0.5, batch_size=10, num_epochs=3, print_every=4)
    solver.train()
    first = capsys.readouterr().out
    before = {k: v.copy() for k, v in model.params.items()}
    solver.train()
    again = capsys.readouterr().out
    assert len(solver.loss_history) == 24 and solver.iteration == 24 and solver.epoch == 6
    assert all(abs(c['learning_rate'] - 0.1 * 0.5 ** 6) < 1e-12 for c in solver.optim_configs.values())
    assert any(not np.array_equal(before[k], model.params[k]) for k in before)
    lines = lambda out: [line.split(' loss')[0] for line in out.splitlines()]
    assert lines(first) == lines(again) == ['(Iteration 1 / 12)', '(Iteration 5 / 12)', '(Iteration 9 / 12)']


def test_lr_decay_above_one_is_allowed():
    """The official solver takes any lr_decay (above 1 the rate grows)."""
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, optim_config={'learning_rate': 0.01}, lr_decay=1.5,
                              batch_size=10, num_epochs=2, verbose=False)
    solver.train()
    assert all(abs(c['learning_rate'] - 0.01 * 1.5 ** 2) < 1e-12 for c in solver.optim_configs.values())


@pytest.mark.parametrize('rule,lr', [('sgd', 1e30), ('adam', 1e30)])
def test_blow_up_is_undone_and_training_goes_on(rule, lr, tmp_path):
    """A learning rate so large that an update makes the loss NaN: training
    stops, the parameters and the optimizer state go back to before that
    update (sgd changes w in place, adam does not), and a new solver with a
    smaller learning rate trains on from there."""
    model, data = tiny_setup()
    ckpt = tmp_path / 'run.ckpt'
    solver = CaptioningSolver(model, data, update_rule=rule, optim_config={'learning_rate': lr},
                              batch_size=10, num_epochs=5, verbose=False, checkpoint_path=str(ckpt))
    with np.errstate(all='ignore'), pytest.raises(FloatingPointError) as e:
        solver.train()
    msg = str(e.value)
    bad = int(msg.split('at iteration ')[1].split(':')[0])
    assert 'made the parameters blow up' in msg and 'back to where they were' in msg
    assert 'smaller learning_rate (it was %r)' % lr in msg and str(ckpt) in msg
    # back to the state after bad - 2 updates, in which the loss was finite
    assert solver.iteration == bad - 2 and len(solver.loss_history) == bad - 2
    features = data['train_features'][data['train_image_idxs'][:10]]
    assert all(np.isfinite(v).all() for v in model.params.values())
    assert np.isfinite(model.loss(features, data['train_captions'][:10])[0])
    # the checkpoint holds the same good state
    check = CaptioningSolver(model, data, update_rule=rule, verbose=False)
    check.load_checkpoint(str(ckpt))
    assert check.iteration == bad - 2
    # training on with a sane learning rate works
    again = CaptioningSolver(model, data, update_rule=rule, optim_config={'learning_rate': 1e-3},
                             batch_size=10, num_epochs=1, verbose=False)
    again.train()
    assert np.isfinite(again.loss_history).all()


def test_nan_before_any_update_blames_the_model_or_data():
    model, data = tiny_setup()
    model.params['W_vocab'][0, 0] = np.nan
    solver = CaptioningSolver(model, data, update_rule='sgd', batch_size=10, num_epochs=1, verbose=False)
    with pytest.raises(FloatingPointError, match=r'first minibatch \(iteration 1\), before any update'):
        solver.train()
    assert solver.iteration == 0 and solver.loss_history == []


def test_bad_update_rule():
    model, data = tiny_setup()
    with pytest.raises(ValueError, match="update_rule must be one of"):
        CaptioningSolver(model, data, update_rule='adamw')


@pytest.mark.parametrize('rule, config, msg', [
    ('adam', {'learnin_rate': 1e-1}, r"optim_config: 'learnin_rate' is not a setting of adam; its settings are "
                                     r"learning_rate, beta1, beta2, epsilon"),
    ('sgd', {'momentum': 0.9}, r"'momentum' is not a setting of sgd; its settings are learning_rate$"),
    ('rmsprop', {'learning_rate': '1e-3'}, r"optim_config\['learning_rate'\] must be a number \(e.g. 5e-3\); got '1e-3'"),
])
def test_a_mistyped_optim_config_is_refused(rule, config, msg):
    model, data = tiny_setup()
    with pytest.raises(ValueError, match=msg):
        CaptioningSolver(model, data, update_rule=rule, optim_config=config)


def test_a_custom_update_rule_takes_any_config():
    model, data = tiny_setup()
    seen = []

    def rule(w, dw, config):
        seen.append(config['step'])
        return w - config['step'] * dw, config
    CaptioningSolver(model, data, update_rule=rule, optim_config={'step': 1e-3}, batch_size=10, num_epochs=1,
                     verbose=False).train()
    assert seen and set(seen) == {1e-3}


def test_checkpoint_resume_gives_same_history(tmp_path):
    ckpt = tmp_path / 'run.ckpt'
    model, data = tiny_setup(seed=1)
    full = CaptioningSolver(model, data, update_rule='adam', optim_config={'learning_rate': 1e-2},
                            lr_decay=0.9, batch_size=8, num_epochs=6, verbose=False)
    full.train()
    full_params = {k: v.copy() for k, v in model.params.items()}

    # The same run, killed after 3 epochs: the iteration count is cut short by
    # asking for fewer epochs, then a fresh process (new model, new solver) resumes.
    model_a, data = tiny_setup(seed=1)
    part = CaptioningSolver(model_a, data, update_rule='adam', optim_config={'learning_rate': 1e-2},
                            lr_decay=0.9, batch_size=8, num_epochs=3, verbose=False,
                            checkpoint_path=str(ckpt), checkpoint_every=4)
    part.train()
    assert ckpt.exists() and len(part.loss_history) == 15
    np.random.seed(12345)  # the resumed process starts with another random state
    model_b, _ = tiny_setup(seed=2)
    resumed = CaptioningSolver(model_b, data, update_rule='adam', optim_config={'learning_rate': 1e-2},
                               lr_decay=0.9, batch_size=8, num_epochs=6, verbose=False,
                               checkpoint_path=str(ckpt), checkpoint_every=4)
    resumed.train()
    assert resumed.loss_history == full.loss_history
    for k in full_params:
        assert np.array_equal(model_b.params[k], full_params[k]), k


def test_checkpoint_rejects_other_model(tmp_path):
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, verbose=False, num_epochs=1, batch_size=10)
    solver.train()
    solver.save_checkpoint(tmp_path / 'c.ckpt')
    other = CaptioningRNN(data['word_to_idx'], input_dim=8, wordvec_dim=6, hidden_dim=12, cell_type='lstm')
    s2 = CaptioningSolver(other, data, verbose=False)
    with pytest.raises(ValueError, match=r"c.ckpt was written by a CaptioningRNN\(cell_type='lstm', input_dim=8, "
                                         r"wordvec_dim=6, hidden_dim=10, 6 words\), but this model is a "
                                         r"CaptioningRNN\(cell_type='lstm', input_dim=8, wordvec_dim=6, "
                                         r"hidden_dim=12, 6 words\): build the model the checkpoint was written "
                                         r"for \(CaptioningRNN.from_checkpoint\(path\) does\)"):
        s2.load_checkpoint(tmp_path / 'c.ckpt')
    rnn = CaptioningRNN(data['word_to_idx'], input_dim=8, wordvec_dim=6, hidden_dim=10, cell_type='rnn')
    with pytest.raises(ValueError, match=r"written by a CaptioningRNN\(cell_type='lstm'.*this model is a "
                                         r"CaptioningRNN\(cell_type='rnn'"):
        CaptioningSolver(rnn, data, verbose=False, batch_size=20).load_checkpoint(tmp_path / 'c.ckpt')


def test_a_finished_run_says_there_is_nothing_left_to_train(tmp_path, capsys):
    ckpt = tmp_path / 'run.ckpt'
    model, data = tiny_setup()
    CaptioningSolver(model, data, batch_size=10, num_epochs=3, verbose=False, checkpoint_path=str(ckpt)).train()
    capsys.readouterr()
    again = CaptioningSolver(model, data, batch_size=10, num_epochs=1, checkpoint_path=str(ckpt))
    again.train()
    out = capsys.readouterr().out
    assert ('the run saved in %s is at iteration 12, past the 4 iterations of this run (num_epochs=1, '
            'batch_size=10): nothing left to train' % ckpt) in out
    assert 'Give a larger num_epochs' in out and 'Resuming from' not in out and 'Iteration' not in out
    assert again.iteration == 12 and len(again.loss_history) == 12


def test_resuming_says_what_the_checkpoint_keeps(tmp_path, capsys):
    ckpt = tmp_path / 'run.ckpt'
    model, data = tiny_setup()
    CaptioningSolver(model, data, update_rule='sgd', optim_config={'learning_rate': 1e-2}, batch_size=10,
                     num_epochs=1, verbose=False, checkpoint_path=str(ckpt)).train()
    capsys.readouterr()
    with pytest.raises(ValueError, match=r"written with update_rule 'sgd', but this solver uses 'adam'"):
        CaptioningSolver(model, data, update_rule='adam', num_epochs=2, batch_size=10, verbose=False,
                         checkpoint_path=str(ckpt)).train()
    later = CaptioningSolver(model, data, update_rule='sgd', optim_config={'learning_rate': 5e-3},
                             batch_size=10, num_epochs=2, verbose=False, checkpoint_path=str(ckpt))
    later.train()
    out = capsys.readouterr().out
    assert "optim_config {'learning_rate': 0.01} (now {'learning_rate': 0.005})" in out
    assert 'keeps its optimizer state' in out
    assert all(c['learning_rate'] == 1e-2 for c in later.optim_configs.values())


@pytest.mark.parametrize('content', [b'', b'garbage', b'\x80\x04K\x05.'])   # empty, not a pickle, an int
def test_unreadable_checkpoint_names_the_file(tmp_path, content):
    ckpt = tmp_path / 'run.ckpt'
    ckpt.write_bytes(content)
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, batch_size=10, num_epochs=1, verbose=False, checkpoint_path=str(ckpt))
    with pytest.raises(ValueError, match=r'checkpoint .*run.ckpt cannot be read .* Delete it'):
        solver.train()


def test_solver_checks_its_arguments(tmp_path):
    model, data = tiny_setup()
    for kwargs, msg in [({'print_every': 0}, 'print_every must be an integer >= 1'),
                        ({'batch_size': 2.5}, 'batch_size must be an integer >= 1'),
                        ({'lr_decay': 'x'}, r'lr_decay must be a positive number'),
                        ({'lr_decay': -1}, r'lr_decay must be a positive number'),
                        ({'lr_decay': 0}, r'lr_decay must be a positive number'),
                        ({'lr_decay': float('nan')}, r'lr_decay must be a positive number'),
                        ({'checkpoint_every': '5'}, r"checkpoint_every must be an integer >= 1 .*got '5'"),
                        ({'checkpoint_every': 0}, r'checkpoint_every must be an integer >= 1'),
                        ({'optim_config': 5e-3}, 'optim_config must be a dict'),
                        ({'checkpoint_path': str(tmp_path)}, 'is a folder: give a file name in it')]:
        with pytest.raises(ValueError, match=msg):
            CaptioningSolver(model, data, **kwargs)


def test_solver_checks_the_data_before_training():
    w2i = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3}
    model = CaptioningRNN(w2i, input_dim=5, wordvec_dim=4, hidden_dim=6)
    good = {'train_captions': np.array([[1, 3, 2, 0]] * 3), 'train_image_idxs': np.array([0, 1, 1]),
            'train_features': np.zeros((2, 5))}
    CaptioningSolver(model, good, num_epochs=1, batch_size=2, verbose=False).train()
    with pytest.raises(ValueError, match=r"^CaptioningSolver: data has no 'train_image_idxs'"):
        CaptioningSolver(model, {k: good[k] for k in ('train_captions', 'train_features')})
    with pytest.raises(ValueError, match=r'^CaptioningSolver: train_image_idxs must index the rows of '
                                         r'train_features \(shape \(2, 5\)\); got indices in \[0, 2\]'):
        CaptioningSolver(model, dict(good, train_image_idxs=np.array([0, 1, 2])))
    with pytest.raises(ValueError, match=r'^CaptioningSolver: train_captions must be a non-empty \(n, T\) '
                                         r'array and train_image_idxs an \(n,\) array'):
        CaptioningSolver(model, dict(good, train_image_idxs=np.array([0, 1])))


def test_advice_after_a_blow_up_does_not_loop_through_the_checkpoint(tmp_path):
    model, data = tiny_setup()
    ckpt = tmp_path / 'run.ckpt'
    solver = CaptioningSolver(model, data, update_rule='adam', optim_config={'learning_rate': 1e30},
                              batch_size=10, num_epochs=5, verbose=False, checkpoint_path=str(ckpt))
    with np.errstate(all='ignore'), pytest.raises(FloatingPointError, match='no checkpoint_path or a new one'):
        solver.train()


def test_broken_starting_parameters_are_not_blamed_on_the_data(tmp_path):
    model, data = tiny_setup()
    ckpt = str(tmp_path / 'run.ckpt')
    solver = CaptioningSolver(model, data, update_rule='sgd', batch_size=10, num_epochs=1, verbose=False)
    solver.train()
    model.params['Wh'][:] = np.nan                  # a checkpoint with broken parameters
    solver.save_checkpoint(ckpt)
    resumed = CaptioningSolver(model, data, update_rule='sgd', batch_size=10, num_epochs=2, verbose=False,
                               checkpoint_path=ckpt)
    with pytest.raises(FloatingPointError, match=r'iteration 5, the first of this run: the parameters it '
                                                 r'started from .* are already broken'):
        resumed.train()


def test_custom_rule_changing_its_state_in_place_is_undone_too():
    def momentum_in_place(w, dw, config):
        v = config.setdefault('velocity', np.zeros_like(w))
        v *= 0.9
        v -= config.get('learning_rate', 1e-2) * dw
        w += v
        return w, config
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, update_rule=momentum_in_place, optim_config={'learning_rate': 1e30},
                              batch_size=10, num_epochs=5, verbose=False)
    with np.errstate(all='ignore'), pytest.raises(FloatingPointError, match='back to where they were'):
        solver.train()
    assert all(np.isfinite(w).all() for w in model.params.values())
    assert all(np.isfinite(c['velocity']).all() for c in solver.optim_configs.values() if 'velocity' in c)


def test_a_blow_up_in_the_last_update_is_not_saved(tmp_path):
    model, data = tiny_setup()
    ckpt = tmp_path / 'run.ckpt'
    solver = CaptioningSolver(model, data, update_rule='sgd', optim_config={'learning_rate': 1e-2},
                              batch_size=10, num_epochs=1, verbose=False, checkpoint_path=str(ckpt))
    real = solver.update_rule

    def breaks_at_the_end(w, dw, config):
        w, config = real(w, dw, config)
        return (w * np.nan if solver.iteration == solver.num_iterations - 1 else w), config
    solver.update_rule = breaks_at_the_end
    with pytest.raises(FloatingPointError, match=r'last update of the run, at iteration 4, made parameters NaN'):
        solver.train()
    assert solver.iteration == 3 and all(np.isfinite(w).all() for w in model.params.values())
    import pickle
    with open(ckpt, 'rb') as f:
        saved = pickle.load(f)
    assert saved['iteration'] == 3 and all(np.isfinite(w).all() for w in saved['params'].values())


def test_update_rule_names_are_the_same_in_every_process():
    import functools
    from cs231n import optim
    from cs231n.captioning_solver import _rule_name
    assert _rule_name(optim.adam) == 'adam' and _rule_name(functools.partial(optim.adam)) == 'adam'
    assert _rule_name(object()) is None


@pytest.mark.parametrize('cell_type,dtype', [('lstm', np.float32), ('rnn', np.float64)])
def test_model_is_rebuilt_from_a_checkpoint(tmp_path, cell_type, dtype):
    model, data = tiny_setup()
    model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1], wordvec_dim=6,
                          hidden_dim=12, cell_type=cell_type, dtype=dtype)
    CaptioningSolver(model, data, verbose=False, num_epochs=1, batch_size=10,
                     checkpoint_path=str(tmp_path / 'run.ckpt')).train()
    again = CaptioningRNN.from_checkpoint(tmp_path / 'run.ckpt')
    assert (again.cell_type, again.dtype, again.word_to_idx) == (cell_type, dtype, data['word_to_idx'])
    for k, v in model.params.items():
        assert again.params[k].dtype == v.dtype and np.array_equal(again.params[k], v), k
    features = data['train_features'][:3]
    assert np.array_equal(again.sample(features, max_length=5), model.sample(features, max_length=5))
    (tmp_path / 'junk.ckpt').write_bytes(b'not a pickle')
    with pytest.raises(ValueError, match=r'junk.ckpt cannot be read .*not a CaptioningSolver checkpoint'):
        CaptioningRNN.from_checkpoint(tmp_path / 'junk.ckpt')
    with pytest.raises(ValueError, match=r'missing.ckpt cannot be read \(FileNotFoundError'):
        CaptioningRNN.from_checkpoint(tmp_path / 'missing.ckpt')
    import pickle
    with open(tmp_path / 'run.ckpt', 'rb') as f:
        state = pickle.load(f)
    del state['model']
    with open(tmp_path / 'old.ckpt', 'wb') as f:
        pickle.dump(state, f)
    with pytest.raises(ValueError, match=r'no description of its model .*load_checkpoint'):
        CaptioningRNN.from_checkpoint(tmp_path / 'old.ckpt')


def _adam_in_place(w, dw, config=None):
    """optim.adam as a student might edit it: the same numbers, computed in
    place in w and in the moment arrays."""
    config = {} if config is None else config
    for k, v in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('epsilon', 1e-8), ('t', 0)):
        config.setdefault(k, v)
    m = config.setdefault('m', np.zeros_like(w))
    v = config.setdefault('v', np.zeros_like(w))
    config['t'] += 1
    m *= config['beta1']
    m += (1 - config['beta1']) * dw
    v *= config['beta2']
    v += (1 - config['beta2']) * dw * dw
    b1, b2, t = config['beta1'], config['beta2'], config['t']
    alpha = config['learning_rate'] * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    w -= alpha * m / (np.sqrt(v) + config['epsilon'])
    return w, config


@pytest.mark.parametrize('rule', ['adam', 'sgd_momentum', 'sgd', _adam_in_place])
def test_what_a_rule_changes_in_place_is_found_out_and_undone(rule, monkeypatch):
    """The roll-back after a blow-up copies what the rule changes in place,
    found out at the first update: nothing for optim.py's adam, everything
    for an optim.adam edited to work in place (under the same name), whose
    blow-up is then undone exactly."""
    from cs231n import captioning_solver
    if callable(rule):
        monkeypatch.setattr(captioning_solver.optim, 'adam', rule)
        name = 'adam'
    else:
        name = rule
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, update_rule=name, optim_config={'learning_rate': 1e-3},
                              batch_size=10, num_epochs=1, verbose=False)
    solver.train()
    in_place = callable(rule) or rule == 'sgd'
    assert solver._copy_params is in_place
    assert solver._copy_state is ({'adam': False, 'sgd_momentum': False, 'sgd': None}.get(rule, True))
    # now a blow-up: back to the parameters and moments before the bad update, bit for bit
    before = {}
    solver.optim_configs = {p: dict(c, learning_rate=1e30) for p, c in solver.optim_configs.items()}
    real_step = solver._step

    def step():
        before[solver.iteration] = ({p: w.copy() for p, w in model.params.items()},
                                    {p: {k: v.copy() for k, v in c.items() if isinstance(v, np.ndarray)}
                                     for p, c in solver.optim_configs.items()})
        real_step()
    solver._step = step
    with np.errstate(all='ignore'), pytest.raises(FloatingPointError, match='back to where they were'):
        solver.train()
    params, state = before[solver.iteration]
    for p, w in model.params.items():
        assert np.array_equal(w, params[p]), p
        for k, v in state[p].items():
            assert np.array_equal(solver.optim_configs[p][k], v), (p, k)


@pytest.mark.parametrize('rule', ['adam', 'sgd'])
@pytest.mark.parametrize('at', [0, 3, 7])   # interrupted at the update of the at-th parameter
def test_an_interrupted_step_leaves_the_run_as_it_was_before_it(monkeypatch, rule, at):
    """Ctrl-C in the middle of an update (some parameters updated, others
    not) puts everything back: parameters, optimizer state, counts, history;
    training on then gives the run an uninterrupted solver gives."""
    from cs231n import captioning_solver
    real = getattr(captioning_solver.optim, rule)
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, update_rule=rule, optim_config={'learning_rate': 1e-2},
                              lr_decay=0.5, batch_size=10, num_epochs=1, verbose=False)
    solver.train()                                     # 4 iterations: one epoch, lr decayed once
    before = ({p: w.copy() for p, w in model.params.items()},
              {p: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in c.items()}
               for p, c in solver.optim_configs.items()},
              solver.iteration, solver.epoch, list(solver.loss_history))
    calls = []

    def interrupted(w, dw, config):
        calls.append(1)
        if len(calls) == at + 1:
            raise KeyboardInterrupt
        return real(w, dw, config)
    solver.update_rule = interrupted
    with pytest.raises(KeyboardInterrupt):
        solver.train()
    params, state, iteration, epoch, history = before
    assert (solver.iteration, solver.epoch, solver.loss_history) == (iteration, epoch, history)
    for p, w in model.params.items():
        assert np.array_equal(w, params[p]), p
        assert solver.optim_configs[p].keys() == state[p].keys()
        for k, v in state[p].items():
            assert np.array_equal(solver.optim_configs[p][k], v), (p, k)


def test_an_interrupt_at_the_end_of_an_epoch_does_not_decay_the_learning_rate_twice(monkeypatch):
    model, data = tiny_setup()
    solver = CaptioningSolver(model, data, update_rule='sgd', optim_config={'learning_rate': 0.1},
                              lr_decay=0.5, batch_size=10, num_epochs=1, verbose=False)
    solver.train()
    seen = []

    class Stop(float):   # a decay factor that stops the run while the learning rates are decayed
        def __rmul__(self, other):
            seen.append(other)
            if len(seen) == 3:
                raise KeyboardInterrupt
            return other * float(self)
    solver.lr_decay = Stop(0.5)
    solver.num_epochs = 1
    with pytest.raises(KeyboardInterrupt):
        solver.train()
    assert solver.iteration == 7 and solver.epoch == 1   # the 8th step, which ends epoch 2, undone
    assert len(seen) == 3 and len(solver.loss_history) == 7
    assert all(c['learning_rate'] == 0.05 for c in solver.optim_configs.values())


@pytest.mark.parametrize('change, message', [
    (lambda g: {k if k != 'Wx' else 'dWx': v for k, v in g.items()},
     r'grads with no Wx and keys that are not parameters: dWx: grads must have exactly the keys'),
    (lambda g: {k: v for k, v in g.items() if k != 'b_vocab'}, r'grads with no b_vocab: '),
    (lambda g: dict(g, W_proj=g['W_proj'].T), r"grads\['W_proj'\] of shape \(10, 8\); it must have the "
                                               r"shape of the parameter, \(8, 10\)"),
    (lambda g: list(g.values()), r'grads is a list'),
])
def test_grads_that_do_not_fit_the_parameters_are_named(change, message):
    model, data = tiny_setup()
    right = model.loss
    model.loss = lambda f, c: (lambda l, g: (l, change(g)))(*right(f, c))
    solver = CaptioningSolver(model, data, update_rule='adam', batch_size=10, num_epochs=1, verbose=False)
    params = {p: w.copy() for p, w in model.params.items()}
    with pytest.raises(ValueError, match=message):
        solver.train()
    assert solver.iteration == 0 and solver.loss_history == []
    assert all(np.array_equal(w, params[p]) for p, w in model.params.items())


def test_float64_gradients_of_a_float32_model_are_said_once(capsys):
    model, data = tiny_setup()
    right = model.loss
    model.loss = lambda f, c: (lambda l, g: (l, dict(g, Wh=g['Wh'].astype(np.float64))))(*right(f, c))
    CaptioningSolver(model, data, update_rule='adam', batch_size=10, num_epochs=2, verbose=False).train()
    out = capsys.readouterr().out
    assert out.count('Note:') == 1, out
    assert "grads['Wh'] is float64 while the parameters are float32" in out and 'dtype=x.dtype' in out
    right_model, _ = tiny_setup()
    CaptioningSolver(right_model, data, update_rule='adam', batch_size=10, num_epochs=2, verbose=False).train()
    assert capsys.readouterr().out == ''


def test_every_gradient_of_another_type_is_named_in_the_note(capsys):
    model, data = tiny_setup()
    right = model.loss
    up = ('Wx', 'Wh', 'b')        # the recurrent layer's: made float64 there
    model.loss = lambda f, c: (lambda l, g: (l, {k: v.astype(np.float64) if k in up else v
                                                 for k, v in g.items()}))(*right(f, c))
    CaptioningSolver(model, data, update_rule='adam', batch_size=10, num_epochs=1, verbose=False).train()
    out = capsys.readouterr().out
    assert "Note: grads['Wx'], grads['Wh'], grads['b'] are float64 while the parameters are float32" in out
