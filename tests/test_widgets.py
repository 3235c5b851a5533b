"""The caption explorer, driven without a browser: set values, click buttons,
check the state and the rendered caption."""
import numpy as np
import pytest

pytest.importorskip('ipywidgets')

from cs231n.classifiers.rnn import CaptioningRNN
from cs231n.widgets import CaptionExplorer


def tiny_data(tmp_path):
    import matplotlib.image
    w2i = {'<NULL>': 0, '<START>': 1, '<END>': 2, '<UNK>': 3, 'red': 4, 'circle': 5, 'blue': 6, 'square': 7}
    i2w = sorted(w2i, key=w2i.get)
    data = {'idx_to_word': i2w, 'word_to_idx': w2i}
    rng = np.random.RandomState(0)
    for split, n in (('train', 6), ('val', 4)):
        caps = np.zeros((2 * n, 6), dtype=np.int32)
        for i in range(n):
            caps[2 * i] = [1, 4, 5, 2, 0, 0]
            caps[2 * i + 1] = [1, 6, 7, 2, 0, 0]
        data['%s_captions' % split] = caps
        data['%s_image_idxs' % split] = np.repeat(np.arange(n), 2).astype(np.int32)
        data['%s_features' % split] = rng.randn(n, 5).astype(np.float32)
        paths = []
        for i in range(n):
            p = tmp_path / ('%s%d.png' % (split, i))
            matplotlib.image.imsave(p, np.full((8, 8, 3), 30 * i, dtype=np.uint8))
            paths.append(str(p))
        data['%s_images' % split] = np.array(paths)
        data['%s_urls' % split] = np.array(paths)
    return data


@pytest.fixture
def explorer(tmp_path):
    data = tiny_data(tmp_path)
    np.random.seed(0)
    model = CaptioningRNN(data['word_to_idx'], input_dim=5, wordvec_dim=4, hidden_dim=6, cell_type='lstm')
    model.params['W_vocab'] *= 20  # confident, state-dependent choices
    return CaptionExplorer(model, data, split='val', max_length=8)


def test_logic_without_widgets(explorer):
    html = explorer.render()
    assert explorer.error == ''
    assert explorer.tokens and all(0 <= p <= 1 for _, p in explorer.tokens)
    assert explorer.caption == ' '.join(w for w, _ in explorer.tokens if w not in ('<END>', '<NULL>', '<START>'))
    assert 'red circle' in html and 'blue square' in html  # the ground truth is listed
    assert explorer.ground_truth() == ['red circle', 'blue square']


def test_widget_controls_change_state(explorer):
    root = explorer.widget()
    ui = explorer._ui
    first_png = ui['image'].value
    assert ui['panel'].value and 'Model (greedy)' in ui['panel'].value
    ui['index'].value = 3
    assert explorer.index == 3 and ui['image'].value != first_png
    ui['strategy'].value = 'beam'
    assert 'beam width 3' in ui['panel'].value and not ui['beam_width'].disabled
    ui['beam_width'].value = 1
    beam1 = explorer.caption
    ui['strategy'].value = 'greedy'
    assert explorer.caption == beam1  # beam width 1 is greedy
    ui['strategy'].value = 'temperature'
    assert 'temperature 1.00, seed 0' in ui['panel'].value
    ui['resample'].click()
    assert explorer.seed == 1 and 'seed 1' in ui['panel'].value
    ui['split'].value = 'train'
    assert ui['index'].max == 5
    ui['random'].click()
    assert ui['index'].value == explorer.index
    assert root is explorer.widget()


def test_errors_show_in_the_widget(explorer):
    explorer.widget()
    explorer.model.params['W_proj'] = np.zeros((7, 6), dtype=np.float32)  # breaks the model
    explorer._ui['index'].value = 1
    assert 'Error:' in explorer._ui['panel'].value and 'features must have shape' in explorer.error


def test_missing_image_shows_placeholder(explorer, tmp_path):
    explorer.data['val_images'][2] = str(tmp_path / 'gone.png')
    explorer.data['val_urls'][2] = str(tmp_path / 'gone.png')
    explorer.widget()
    explorer._ui['index'].value = 2
    assert 'could not be loaded' in explorer._ui['note'].value
    assert explorer._ui['image'].value  # the placeholder


def test_bad_model_or_settings_are_refused_with_what_to_do(explorer):
    model, data = explorer.model, explorer.data
    with pytest.raises(ValueError, match=r'needs a trained CaptioningRNN as model, got NoneType: train one'):
        CaptionExplorer(None, data)
    other = CaptioningRNN({'<NULL>': 0, '<START>': 1, '<END>': 2, 'x': 3}, input_dim=5, wordvec_dim=4,
                          hidden_dim=6)
    with pytest.raises(ValueError, match=r'another vocabulary \(4 words\) than this data\'s \(8 words\)'):
        CaptionExplorer(other, data)
    wide = CaptioningRNN(data['word_to_idx'], input_dim=7, wordvec_dim=4, hidden_dim=6)
    with pytest.raises(ValueError, match=r'features of size 7, but this data has 5'):
        CaptionExplorer(wide, data)
    with pytest.raises(ValueError, match=r"split must be 'train' or 'val'"):
        CaptionExplorer(model, data, split='test')
    for bad in (0, -1, 10.0, 10 ** 5):
        with pytest.raises(ValueError, match=r'max_length must be a whole number from 1 to 200'):
            CaptionExplorer(model, data, max_length=bad)


def test_images_are_fetched_once_and_the_split_renders_once(explorer):
    fetched, rendered = [], []
    image, render = explorer.image, explorer.render
    explorer.image = lambda: fetched.append((explorer.split, explorer.index)) or image()
    explorer.render = lambda: rendered.append(1) or render()
    explorer.widget()
    ui = explorer._ui
    ui['strategy'].value = 'beam'
    ui['beam_width'].value = 2
    ui['strategy'].value = 'temperature'
    ui['resample'].click()
    assert fetched == [('val', 0)]                  # the sampling changed, the image did not
    ui['index'].value = 3
    ui['index'].value = 0                           # seen before: from the cache
    assert fetched == [('val', 0), ('val', 3)]
    ui['split'].value = 'train'
    ui['index'].value = 5                           # past the last of the 4 val images
    rendered.clear()
    ui['split'].value = 'val'                       # the slider moves back too: one refresh all the same
    assert len(rendered) == 1 and explorer.index == 3 and 'val image 3' in ui['note'].value


def test_cut_captions_and_missing_references_are_said(explorer):
    short = CaptionExplorer(explorer.model, explorer.data, split='val', max_length=1)
    assert 'no &lt;END&gt; within max_length=1' in short.render() and short.cut
    explorer.data['val_image_idxs'][:] = 0          # only image 0 has captions now
    explorer.index = 2
    assert 'none in the loaded data' in explorer.render()


def test_a_failed_image_is_tried_again(explorer, tmp_path):
    path = explorer.data['val_images'][1]
    hidden = path + '.away'
    import os
    os.rename(path, hidden)
    explorer.widget()
    ui = explorer._ui
    ui['index'].value = 1
    assert 'could not be loaded' in ui['note'].value
    os.rename(hidden, path)
    ui['index'].value = 0
    ui['index'].value = 1
    assert 'could not be loaded' not in ui['note'].value


def test_caption_again_uses_the_model_as_it_is_now(explorer):
    explorer.widget()
    ui = explorer._ui
    before = ui['panel'].value
    explorer.model.params['b_vocab'][:] = -50      # "trained further": every word but one unlikely
    explorer.model.params['b_vocab'][6] = 50       # 'blue'
    assert ui['panel'].value == before             # nothing recomputes by itself
    ui['recaption'].click()
    assert ui['panel'].value != before and explorer.caption.split()[0] == 'blue'



def test_words_the_model_generated_are_all_shown(explorer):
    """A <NULL> or <START> the model generates before <END> is one of its
    words: it is among the tokens (with its probability) and said, though left
    out of the caption text; only what follows <END> is dropped."""
    ids = np.array([[4, 0, 5, 1, 2, 0, 0, 0]])         # red <NULL> circle <START> <END>, then padding
    probs = np.array([[0.9, 0.4, 0.8, 0.3, 0.7, 1.0, 1.0, 1.0]])
    explorer.model.sample = lambda feats, max_length, return_probs, **kw: (ids, probs)
    html = explorer.render()
    assert explorer.tokens == [('red', 0.9), ('<NULL>', 0.4), ('circle', 0.8), ('<START>', 0.3), ('<END>', 0.7)]
    assert explorer.caption == 'red circle' and not explorer.cut
    assert 'the model generated &lt;NULL&gt; and &lt;START&gt; before the end of its caption' in html
    ids[0, 1], ids[0, 3] = 6, 7                         # red blue circle square <END>: nothing to say
    assert 'before the end of its caption' not in explorer.render()


def test_only_splits_with_images_are_offered(explorer):
    model, data = explorer.model, explorer.data
    only_train = {k: v for k, v in data.items() if not k.startswith('val_')}
    ex = CaptionExplorer(model, only_train, split='train')
    ex.widget()
    assert list(ex._ui['split'].options) == ['train'] and ex.splits() == ['train']
    with pytest.raises(ValueError, match=r"split must be one of 'train' \(the splits of data with images\); "
                                         r"got 'val'"):
        ex.caption_for(split='val')
    empty_val = dict(data, val_features=data['val_features'][:0])
    with pytest.raises(ValueError, match=r"the val split of data has no images: give split='train'"):
        CaptionExplorer(model, empty_val, split='val')
    ex = CaptionExplorer(model, empty_val, split='train')
    assert ex.splits() == ['train']


@pytest.mark.parametrize('index', [3.0, '3', None.__class__])
def test_an_index_that_is_not_a_whole_number_is_refused(explorer, index):
    with pytest.raises(ValueError, match=r"image index must be a whole number \(a row of "
                                         r"data\['val_features'\]\); got "):
        explorer.caption_for(index=index)
    assert explorer.caption_for(index=np.int64(3))[0] == explorer.caption_for(index=3)[0]


def test_a_model_with_nan_parameters_is_said_to_need_training_again(explorer):
    explorer.model.params['W_vocab'][:] = np.nan
    html = explorer.render()
    assert 'cx-error' in html and explorer.error == (
        'ValueError: the model gives NaN or infinite probabilities (its W_vocab hold NaN or inf): train it '
        'again, with a smaller learning_rate')


def test_a_vocabulary_of_the_same_size_with_other_ids_is_named(explorer):
    model, data = explorer.model, explorer.data
    swapped = dict(data['word_to_idx'], red=5, circle=4)
    other = CaptioningRNN(swapped, input_dim=5, wordvec_dim=4, hidden_dim=6)
    with pytest.raises(ValueError, match=r"built for the same number of words \(8\) as this data's, but other "
                                         r"word ids \('circle' is 4 in the model, 5 in the data\)"):
        CaptionExplorer(other, data)


def test_the_panel_says_what_the_probabilities_are_and_random_always_refreshes(explorer, monkeypatch):
    explorer.widget()
    ui = explorer._ui
    assert "the model's probability of it after the words before it" in ui['panel'].value
    refreshed = []
    real = explorer.refresh
    monkeypatch.setattr(explorer, 'refresh', lambda image=True: refreshed.append(image) or real(image))
    monkeypatch.setattr(explorer, 'random_image', lambda: explorer.index)   # the draw lands where it was
    ui['random'].click()
    assert refreshed == [False]
    one = {k: (v[:1] if k.startswith('val_') and k != 'val_captions' and k != 'val_image_idxs' else v)
           for k, v in explorer.data.items()}
    small = CaptionExplorer(explorer.model, one, split='val')
    small.widget()
    assert small._ui['random'].disabled and not ui['random'].disabled


def test_a_split_switch_puts_a_new_image_slider_in_place(explorer):
    """A slider whose max is raised keeps its old range for the End key in
    the browser: the switch builds one for the split's range."""
    explorer.widget()
    ui = explorer._ui
    old = ui['index']
    old.value = 3
    ui['split'].value = 'train'
    new = ui['index']
    assert new is not old and new in ui['top'].children and old not in ui['top'].children
    assert (new.min, new.max, new.value, explorer.index) == (0, 5, 3, 3)
    new.value = 5
    assert explorer.index == 5 and 'train image 5' in ui['note'].value
    ui['split'].value = 'val'                       # 4 images: the index is clamped
    assert (ui['index'].max, ui['index'].value, explorer.index) == (3, 3, 3)
