"""The loader on the real coco_mini fixture, and its errors on broken data."""
import json
import re
import shutil

import h5py
import numpy as np

import pytest

from cs231n.coco_utils import (DatasetError, decode_captions, load_coco_data,
                               sample_coco_minibatch)

OFFICIAL_KEYS = {'train_captions', 'train_image_idxs', 'val_captions', 'val_image_idxs',
                 'train_features', 'val_features', 'idx_to_word', 'word_to_idx',
                 'train_urls', 'val_urls'}


def test_load_official_layout(coco_mini_data, coco_mini):
    data = coco_mini_data
    assert OFFICIAL_KEYS <= set(data)
    assert data['train_captions'].shape == (1055, 17) and data['val_captions'].shape == (300, 17)
    assert data['train_features'].shape == (211, 512) and data['train_features'].dtype == np.float32
    assert len(data['idx_to_word']) == 1004
    assert [data['idx_to_word'][i] for i in range(4)] == ['<NULL>', '<START>', '<END>', '<UNK>']
    assert data['train_urls'].shape == (211,) and data['train_urls'][0].startswith('http')
    assert data['train_images'].shape == (211,)
    assert all(str(p).startswith(str(coco_mini)) for p in data['val_images'])


def test_full_features_take_d_from_data(coco_mini):
    data = load_coco_data(coco_mini, pca_features=False)
    assert data['train_features'].shape == (211, 1280)


def test_max_train(coco_mini):
    np.random.seed(0)
    data = load_coco_data(coco_mini, max_train=30)
    assert data['train_captions'].shape == (30, 17) and data['train_image_idxs'].shape == (30,)
    assert data['val_captions'].shape == (300, 17)


def test_env_var_default(coco_mini, monkeypatch):
    monkeypatch.setenv('CS231N_COCO_DIR', str(coco_mini))
    assert load_coco_data()['train_captions'].shape == (1055, 17)


def test_decode_captions(coco_mini_data):
    i2w = coco_mini_data['idx_to_word']
    w2i = coco_mini_data['word_to_idx']
    caps = np.array([[w2i['<START>'], w2i['a'], w2i['dog'], w2i['<END>'], w2i['cat'], 0],
                     [w2i['<START>'], w2i['a'], 0, w2i['cat'], 0, 0]])
    assert decode_captions(caps, i2w) == ['<START> a dog <END>', '<START> a cat']
    assert decode_captions(caps[0], i2w) == '<START> a dog <END>'
    text = decode_captions(coco_mini_data['train_captions'][:5], i2w)
    assert all(t.startswith('<START> ') and t.endswith(' <END>') for t in text)


def test_decode_captions_names_bad_input():
    i2w = ['<NULL>', '<START>', '<END>', 'a']
    with pytest.raises(ValueError, match=r'^decode_captions: captions hold word ids in \[1, 9\], but '
                                         r'idx_to_word has 4 words'):
        decode_captions(np.array([[1, 9]]), i2w)
    with pytest.raises(ValueError, match=r'^decode_captions: captions must be an integer array of shape '
                                         r'\(N, T\) or \(T,\); got dtype float64'):
        decode_captions(np.array([[1.0, 2.0]]), i2w)
    assert decode_captions(np.array([[1, 3, 2]]), dict(enumerate(i2w))) == ['<START> a <END>']


def test_sample_minibatch(coco_mini_data):
    np.random.seed(1)
    caps, feats, urls = sample_coco_minibatch(coco_mini_data, batch_size=7, split='val')
    assert caps.shape == (7, 17) and feats.shape == (7, 512) and urls.shape == (7,)
    # every feature row belongs to the image its caption describes
    for c, f, u in zip(caps, feats, urls):
        rows = np.where((coco_mini_data['val_captions'] == c).all(axis=1))[0]
        imgs = coco_mini_data['val_image_idxs'][rows]
        assert any(np.array_equal(coco_mini_data['val_features'][i], f) for i in imgs)
        assert u in coco_mini_data['val_urls'][imgs]
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        sample_coco_minibatch(coco_mini_data, split='test')
    # a hand-made data dict: the urls are optional, the rest is named when missing
    small = {k: coco_mini_data[k] for k in ('train_captions', 'train_image_idxs', 'train_features')}
    caps, feats, urls = sample_coco_minibatch(small, batch_size=3)
    assert caps.shape == (3, 17) and feats.shape == (3, 512) and urls is None
    del small['train_features']
    with pytest.raises(ValueError, match=r"^sample_coco_minibatch: data has no 'train_features'; it needs "
                                         r"train_captions, train_image_idxs, train_features"):
        sample_coco_minibatch(small)


# ------------------------------------------------------------ broken datasets
@pytest.fixture
def copy_of_mini(coco_mini, tmp_path):
    d = tmp_path / 'coco'
    shutil.copytree(coco_mini, d, ignore=shutil.ignore_patterns('images'))
    for f in d.iterdir():
        f.chmod(0o644)
    return d


def test_missing_folder_names_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'bash get_datasets.sh'):
        load_coco_data(tmp_path / 'nowhere')


def test_a_wrong_folder_is_said_to_be_wrong_not_missing_its_download(tmp_path, copy_of_mini):
    with pytest.raises(FileNotFoundError, match=r'^No such folder: .*nowhere \(base_dir\)\. Give the folder that '
                                                r'holds coco2014_captions.h5, or leave base_dir out'):
        load_coco_data(tmp_path / 'nowhere')
    parent = copy_of_mini.parent    # one folder too high
    with pytest.raises(FileNotFoundError, match=r"holds none of the dataset's files .*Its folder %s holds a "
                                                r"complete dataset: load_coco_data\('%s'\)"
                                                % (copy_of_mini.name, re.escape(str(copy_of_mini)))):
        load_coco_data(parent)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"holds none of the dataset's files .*Give the folder that holds them"):
        load_coco_data(empty)


def test_missing_file_named(copy_of_mini):
    (copy_of_mini / 'val2014_vgg16_fc7_pca.h5').unlink()
    with pytest.raises(FileNotFoundError, match=r'missing val2014_vgg16_fc7_pca.h5.*bash get_datasets.sh'):
        load_coco_data(copy_of_mini)
    load_coco_data(copy_of_mini, pca_features=False)  # the full features are still there


def test_truncated_h5(copy_of_mini):
    f = copy_of_mini / 'train2014_vgg16_fc7_pca.h5'
    raw = f.read_bytes()
    f.write_bytes(raw[:len(raw) // 3])
    with pytest.raises(DatasetError, match=r'train2014_vgg16_fc7_pca.h5 cannot be read.*truncated or corrupted'):
        load_coco_data(copy_of_mini)


def test_vocab_does_not_match_captions(copy_of_mini):
    vocab = json.loads((copy_of_mini / 'coco2014_vocab.json').read_text())
    vocab['idx_to_word'] = vocab['idx_to_word'][:500]
    vocab['word_to_idx'] = {w: i for i, w in enumerate(vocab['idx_to_word'])}
    (copy_of_mini / 'coco2014_vocab.json').write_text(json.dumps(vocab))
    with pytest.raises(DatasetError, match=r'coco2014_captions.h5: train_captions holds word ids up to \d+.*only 500 words'):
        load_coco_data(copy_of_mini)


def test_features_with_wrong_rows(copy_of_mini):
    path = copy_of_mini / 'val2014_vgg16_fc7_pca.h5'
    with h5py.File(path, 'r') as f:
        feats = f['features'][:]
    with h5py.File(path, 'w') as f:
        f['features'] = feats[:40]
    with pytest.raises(DatasetError, match=r'val2014_vgg16_fc7_pca.h5 has 40 rows.*wrong number of rows'):
        load_coco_data(copy_of_mini)


def test_h5_without_dataset(copy_of_mini):
    with h5py.File(copy_of_mini / 'coco2014_captions.h5', 'a') as f:
        del f['val_image_idxs']
    with pytest.raises(DatasetError, match=r'coco2014_captions.h5 has no dataset val_image_idxs'):
        load_coco_data(copy_of_mini)


def _rewrite_h5(path, **changes):
    with h5py.File(path, 'r') as f:
        arrays = {k: f[k][:] for k in f}
    arrays.update(changes)
    with h5py.File(path, 'w') as f:
        for k, v in arrays.items():
            f[k] = v


def _read(path, key):
    with h5py.File(path, 'r') as f:
        return f[key][:]


@pytest.mark.parametrize('change,message', [
    (lambda d: _rewrite_h5(d / 'val2014_vgg16_fc7_pca.h5',
                           features=_read(d / 'val2014_vgg16_fc7_pca.h5', 'features')[:, :100]),
     r'val2014_vgg16_fc7_pca.h5 has D = 100 features per image, but the training features have 512'),
    (lambda d: _rewrite_h5(d / 'coco2014_captions.h5',
                           val_captions=_read(d / 'coco2014_captions.h5', 'val_captions')[:, :9]),
     r'val_captions have 9 tokens and train_captions 17'),
    (lambda d: _rewrite_h5(d / 'coco2014_captions.h5',
                           train_captions=_read(d / 'coco2014_captions.h5', 'train_captions').astype(np.float32)),
     r'train_captions must hold integers; it holds float32'),
    (lambda d: _rewrite_h5(d / 'train2014_vgg16_fc7_pca.h5',
                           features=np.full_like(_read(d / 'train2014_vgg16_fc7_pca.h5', 'features'), np.nan)),
     r'train2014_vgg16_fc7_pca.h5: the features hold NaN'),
    (lambda d: (d / 'coco2014_vocab.json').write_text(json.dumps(
        {'idx_to_word': ['<START>', '<NULL>'] + json.loads((d / 'coco2014_vocab.json').read_text())['idx_to_word'][2:],
         'word_to_idx': {w: i for i, w in enumerate(['<START>', '<NULL>'] + json.loads(
             (d / 'coco2014_vocab.json').read_text())['idx_to_word'][2:])}})),
     r'the vocabulary must have <NULL> at index 0'),
])
def test_inconsistent_files_are_refused_with_a_fix(copy_of_mini, change, message):
    change(copy_of_mini)
    with pytest.raises(DatasetError, match=message + r'.*To fix it, replace it with a good copy'):
        load_coco_data(copy_of_mini)


def test_damaged_default_copy_points_at_force(coco_mini, tmp_path, monkeypatch):
    from cs231n import coco_utils
    official = tmp_path / 'coco_captioning'
    shutil.copytree(coco_mini, official, ignore=shutil.ignore_patterns('images'))
    (official / 'coco2014_vocab.json').chmod(0o644)
    (official / 'coco2014_vocab.json').write_text('{bad')
    monkeypatch.setattr(coco_utils, 'BASE_DIR', official)
    with pytest.raises(DatasetError, match=r'not a valid vocabulary file.*`bash get_datasets.sh --force`'):
        load_coco_data(official)


@pytest.mark.parametrize('bad', [0, -1, 2.5, '10', True])
def test_max_train_and_batch_size_are_checked(coco_mini_data, coco_mini, bad):
    with pytest.raises(ValueError, match=r'max_train must be None or an integer >= 1; got'):
        load_coco_data(coco_mini, max_train=bad)
    with pytest.raises(ValueError, match=r'batch_size must be an integer >= 1; got'):
        sample_coco_minibatch(coco_mini_data, batch_size=bad)


def test_max_train_above_the_data_warns(coco_mini):
    with pytest.warns(UserWarning, match=r'max_train=5000 is more than the 1055 training captions'):
        data = load_coco_data(coco_mini, max_train=5000)
    assert data['train_captions'].shape == (5000, 17)


def test_default_dataset_choice(coco_mini, tmp_path, monkeypatch, capsys):
    """No base_dir: $CS231N_COCO_DIR, else complete official data, else the
    offline set, else an error naming both commands; one line says which."""
    from cs231n import coco_utils
    official, offline = tmp_path / 'coco_captioning', tmp_path / 'offline_captioning'
    course = tmp_path / 'cs231n' / 'datasets' / 'coco_captioning'
    monkeypatch.setattr(coco_utils, 'BASE_DIR', official)
    monkeypatch.setattr(coco_utils, 'OFFLINE_DIR', offline)
    monkeypatch.setattr(coco_utils, 'COURSE_DIR', course)
    monkeypatch.delenv('CS231N_COCO_DIR', raising=False)
    with pytest.raises(FileNotFoundError, match=r'bash get_datasets.sh --offline.*bash get_datasets.sh'):
        coco_utils.default_base_dir()
    shutil.copytree(coco_mini, offline, ignore=shutil.ignore_patterns('images'))
    assert coco_utils.default_base_dir() == offline
    assert 'offline set' in capsys.readouterr().out
    # data fetched the official assignment's way, into cs231n/datasets/
    shutil.copytree(coco_mini, course, ignore=shutil.ignore_patterns('images'))
    assert coco_utils.default_base_dir() == course
    assert 'Loading COCO' in capsys.readouterr().out
    shutil.rmtree(course)
    official.mkdir()                                   # incomplete: still the offline set
    (official / 'coco2014_captions.h5').write_bytes(b'')
    assert coco_utils.default_base_dir() == offline
    capsys.readouterr()
    shutil.rmtree(official)
    shutil.copytree(coco_mini, official, ignore=shutil.ignore_patterns('images'))
    assert coco_utils.default_base_dir() == official
    out = capsys.readouterr().out
    assert out.count('\n') == 1 and 'Loading COCO' in out and 'get_datasets.sh --offline' in out
    monkeypatch.setenv('CS231N_COCO_DIR', str(coco_mini))
    assert coco_utils.default_base_dir() == coco_mini
    # an incomplete offline set names the command that builds it
    (offline / 'val2014_urls.txt').unlink()
    with pytest.raises(FileNotFoundError, match=r'missing val2014_urls.txt.*bash get_datasets.sh --offline'):
        coco_utils.load_coco_data(offline)


def test_decode_captions_with_a_dict_names_unknown_ids():
    with pytest.raises(ValueError, match=r'captions hold word ids \[5\] that idx_to_word does not have'):
        decode_captions(np.array([[1, 5, 2]]), {0: '<NULL>', 1: '<START>', 2: '<END>'})


def test_other_datasets_of_the_captions_file_are_loaded_too(coco_mini, tmp_path):
    """As the official loader: every dataset of coco2014_captions.h5 becomes a key."""
    import h5py
    from cs231n.coco_utils import load_coco_data
    folder = tmp_path / 'coco'
    shutil.copytree(coco_mini, folder, ignore=shutil.ignore_patterns('images'))
    with h5py.File(folder / 'coco2014_captions.h5', 'a') as f:
        f['train_extra'] = np.arange(3)
    data = load_coco_data(folder)
    assert np.array_equal(data['train_extra'], np.arange(3))


def test_check_location_warns_about_another_copy_of_the_package(tmp_path, monkeypatch, capsys):
    import cs231n
    monkeypatch.chdir(cs231n.ROOT / 'notebooks')          # where the notebooks run
    assert cs231n.check_location() is True and capsys.readouterr().out == ''
    monkeypatch.chdir(cs231n.ROOT)                        # the grader's workspace root
    assert cs231n.check_location() is True
    (tmp_path / 'notebooks').mkdir()
    monkeypatch.chdir(tmp_path / 'notebooks')             # a release whose notebooks import this copy
    assert cs231n.check_location() is False
    out = capsys.readouterr().out
    assert out.startswith('WARNING: the cs231n package comes from %s' % (cs231n.ROOT / 'cs231n'))
    assert str(tmp_path) in out and 'bash scripts/setup.sh' in out


def test_decode_captions_of_ragged_or_empty_input():
    words = ['<NULL>', '<START>', '<END>', 'a', 'cat']
    with pytest.raises(ValueError, match=r'rows of different lengths: pad them with <NULL> \(0\)'):
        decode_captions([[1, 3, 4, 2], [1, 4]], words)
    assert decode_captions([], words) == '' and decode_captions(np.zeros((2, 0), int), words) == ['', '']


def test_a_wrong_cs231n_coco_dir_is_blamed_not_base_dir(tmp_path, copy_of_mini, monkeypatch):
    monkeypatch.setenv('CS231N_COCO_DIR', str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match=r'^\$CS231N_COCO_DIR is .*nowhere, which is not a folder: set it '
                                                r'to the folder that holds coco2014_captions.h5 .*or unset it'):
        load_coco_data()
    monkeypatch.setenv('CS231N_COCO_DIR', str(copy_of_mini.parent))   # one folder too high
    with pytest.raises(FileNotFoundError, match=r"\(\$CS231N_COCO_DIR\) holds none of the dataset's files .*"
                                                r"holds a complete dataset: set CS231N_COCO_DIR=%s\.$"
                                                % re.escape(str(copy_of_mini))):
        load_coco_data()


def test_a_url_list_that_is_not_text_names_the_file(copy_of_mini):
    (copy_of_mini / 'val2014_urls.txt').write_bytes(b'http://a/1.jpg\n\xff\xfe\x00\x89PNG\n')
    with pytest.raises(DatasetError, match=r'val2014_urls.txt is not a text file of one image per line '
                                           r'\(byte 15 is not UTF-8 text\).*To fix it, replace it with a good copy'):
        load_coco_data(copy_of_mini)


def test_a_damaged_offline_set_in_a_folder_of_ones_own_is_to_be_rebuilt_there(copy_of_mini):
    (copy_of_mini / 'BUILD_INFO.json').write_text('{}')
    (copy_of_mini / 'coco2014_vocab.json').write_text('{bad')
    with pytest.raises(DatasetError, match=r'To fix it, rebuild the offline set there with `python -m '
                                           r'cs231n.offline_data %s --force`' % re.escape(str(copy_of_mini.resolve()))):
        load_coco_data(copy_of_mini)


def test_an_empty_split_is_said_when_sampling(coco_mini_data):
    data = dict(coco_mini_data, val_captions=coco_mini_data['val_captions'][:0],
                val_image_idxs=coco_mini_data['val_image_idxs'][:0])
    with pytest.raises(ValueError, match=r"sample_coco_minibatch: data\['val_captions'\] holds no captions"):
        sample_coco_minibatch(data, batch_size=3, split='val')


def test_the_offline_set_is_known_by_what_it_holds_wherever_it_is(copy_of_mini, tmp_path):
    """The notebooks' offline-only checks apply to the default offline set,
    also reached through a link or $CS231N_COCO_DIR, and to nothing else."""
    from cs231n.coco_utils import OFFLINE_DIR, is_offline_set
    from cs231n.offline_data import NUM_TRAIN, NUM_VAL, _build_params
    assert not is_offline_set(copy_of_mini) and not is_offline_set(tmp_path / 'nowhere')
    (copy_of_mini / 'BUILD_INFO.json').write_text(json.dumps(_build_params(NUM_TRAIN, NUM_VAL, 0)))
    assert not is_offline_set(copy_of_mini)       # the marker alone is not the set
    assert is_offline_set(OFFLINE_DIR), 'the offline set is built by scripts/setup.sh'
    link = tmp_path / 'elsewhere'
    link.symlink_to(OFFLINE_DIR, target_is_directory=True)
    assert is_offline_set(link)


def test_a_relative_cs231n_coco_dir_that_is_not_there_names_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('CS231N_COCO_DIR', 'datasets/coco_captioning')
    with pytest.raises(FileNotFoundError, match=r'^\$CS231N_COCO_DIR is datasets/coco_captioning \(from the working '
                                                r'directory %s: give an absolute path\), which is not a folder'
                                                % re.escape(str(tmp_path))):
        load_coco_data()
