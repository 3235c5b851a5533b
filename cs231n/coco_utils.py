"""Loading the captioning data (official CS231n `coco_captioning` layout),
sampling minibatches and turning word ids back into text.

The layout of a dataset folder:

    coco2014_captions.h5          train_captions (Nc, 17), train_image_idxs (Nc,),
                                  val_captions, val_image_idxs
    coco2014_vocab.json           idx_to_word (list), word_to_idx (dict)
    train2014_vgg16_fc7.h5        features (Ni, D)     full CNN features
    train2014_vgg16_fc7_pca.h5    features (Ni, D')    PCA-reduced features
    val2014_vgg16_fc7.h5, val2014_vgg16_fc7_pca.h5
    train2014_urls.txt, val2014_urls.txt               one image URL per row
    train2014_images.txt, val2014_images.txt           optional: local image paths
"""
import json
import os
import warnings
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS_DIR = REPO_ROOT / 'datasets'
BASE_DIR = DATASETS_DIR / 'coco_captioning'         # the official data
OFFLINE_DIR = DATASETS_DIR / 'offline_captioning'   # the project's own small set
# where the official assignment's own download script puts the data
COURSE_DIR = REPO_ROOT / 'cs231n' / 'datasets' / 'coco_captioning'
ENV_VAR = 'CS231N_COCO_DIR'
FETCH_COMMAND = 'bash get_datasets.sh'
BUILD_COMMAND = 'bash get_datasets.sh --offline'

CAPTIONS_FILE = 'coco2014_captions.h5'
VOCAB_FILE = 'coco2014_vocab.json'
CAPTION_KEYS = ('train_captions', 'train_image_idxs', 'val_captions', 'val_image_idxs')


def feature_file(split, pca_features):
    return '%s2014_vgg16_fc7%s.h5' % (split, '_pca' if pca_features else '')


def required_files(pca_features=True):
    """The files a dataset folder must hold for load_coco_data."""
    files = [CAPTIONS_FILE, VOCAB_FILE]
    for split in ('train', 'val'):
        files += [feature_file(split, pca_features), '%s2014_urls.txt' % split]
    return files


def missing_files(base_dir, pca_features=True):
    base_dir = Path(base_dir)
    return [f for f in required_files(pca_features) if not (base_dir / f).is_file()]


class DatasetError(Exception):
    """A dataset file is missing, unreadable or inconsistent with the others."""


def _repair(base_dir):
    """What to do about a damaged file of the dataset in base_dir."""
    base_dir = Path(base_dir).resolve()
    if base_dir == OFFLINE_DIR.resolve():
        return 'rebuild the offline set with `%s --force`' % BUILD_COMMAND
    if (base_dir / 'BUILD_INFO.json').is_file():    # an offline set built in a folder of one's own
        return 'rebuild the offline set there with `python -m cs231n.offline_data %s --force`' % base_dir
    if base_dir == BASE_DIR.resolve():
        return 'fetch it again with `%s --force` (the damaged copy is moved aside)' % FETCH_COMMAND
    return ('replace it with a good copy (`%s` fetches the official data into %s)'
            % (FETCH_COMMAND, BASE_DIR))


def _read_h5(path, keys=None, fix=None, others=False):
    """Read whole datasets of an h5 file into numpy arrays, with clear errors
    (keys: those it must have, None for all; others: read the file's other
    datasets too; fix: what to do about a damaged file, for the message)."""
    fix = fix or _repair(Path(path).parent)
    import h5py
    try:
        with h5py.File(path, 'r') as f:
            names = list(f.keys()) if keys is None else keys
            absent = [k for k in names if k not in f]
            if absent:
                raise DatasetError('%s has no dataset %s (it holds %s). The file is not in the '
                                   'expected layout: %s.'
                                   % (path, ', '.join(absent), ', '.join(f.keys()) or 'nothing', fix))
            if others:
                names = names + [k for k in f.keys() if k not in names]
            return {k: np.asarray(f[k]) for k in names}
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise DatasetError('%s cannot be read as HDF5 (%s): it is truncated or corrupted. To fix '
                           'it, %s.' % (path, str(e).splitlines()[0] if str(e) else type(e).__name__, fix)) from None


def _read_lines(path, fix):
    try:
        with open(path, encoding='utf-8') as f:
            return [line.strip() for line in f if line.strip()]
    except UnicodeDecodeError as e:
        raise DatasetError('%s is not a text file of one image per line (byte %d is not UTF-8 text): it is '
                           'damaged or not the right file. To fix it, %s.' % (path, e.start, fix)) from None


def _resolve_local(base_dir, entries):
    """Entries that are not web URLs are paths relative to the dataset folder."""
    out = []
    for e in entries:
        if '://' in e or os.path.isabs(e):
            out.append(e)
        else:
            out.append(str(Path(base_dir) / e))
    return np.asarray(out)


def _shown(path):
    """A path as printed: relative to the working directory when it is close by
    (../datasets/... from notebooks/), else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:          # another drive (Windows)
        return str(path)
    return str(path) if rel.startswith(os.pardir + os.sep + os.pardir) else rel


def default_base_dir(pca_features=True, announce=True):
    """The dataset folder used when none is given: $CS231N_COCO_DIR if set,
    else datasets/coco_captioning when complete (or cs231n/datasets/coco_captioning,
    where the official assignment puts it), else the offline set."""
    env = os.environ.get(ENV_VAR)
    if env:
        if not Path(env).is_dir():
            where = '' if os.path.isabs(env) else ' (from the working directory %s: give an absolute path)' % os.getcwd()
            raise FileNotFoundError(
                '$%s is %s%s, which is not a folder: set it to the folder that holds %s (the real COCO data '
                'comes from `%s`), or unset it to use the default dataset.'
                % (ENV_VAR, env, where, CAPTIONS_FILE, FETCH_COMMAND))
        if announce:
            print('Loading the dataset at %s (from $%s)' % (env, ENV_VAR))
        return Path(env)
    for folder in (BASE_DIR, COURSE_DIR):
        if folder.is_dir() and not missing_files(folder, pca_features):
            if announce:
                print('Loading COCO from %s (the offline set is built by `%s`)' % (_shown(folder), BUILD_COMMAND))
            return folder
    if OFFLINE_DIR.is_dir() and not missing_files(OFFLINE_DIR, pca_features):
        if announce:
            print('Loading the offline set from %s (for the real COCO data run `%s`)'
                  % (_shown(OFFLINE_DIR), FETCH_COMMAND))
        return OFFLINE_DIR
    raise FileNotFoundError(
        'No captioning dataset found: neither %s nor %s is complete. Build the offline set with '
        '`%s` (about two minutes, no network) or fetch the real COCO data with `%s` (about 1 GB), '
        'or set %s to a dataset folder.' % (BASE_DIR, OFFLINE_DIR, BUILD_COMMAND, FETCH_COMMAND, ENV_VAR))


def is_offline_set(base_dir):
    """Whether base_dir holds the offline set as built by default (4,000 +
    500 images, seed 0), wherever it is: the notebooks' checks that hold only
    on that set apply to it."""
    from .offline_data import NUM_TRAIN, NUM_VAL, is_complete
    return is_complete(base_dir, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0)


def load_coco_data(base_dir=None, max_train=None, pca_features=True):
    """Load the captioning dataset into a dict of arrays.

    Inputs:
    - base_dir: Dataset folder; by default $CS231N_COCO_DIR if set, else
      datasets/coco_captioning when it is complete (or the official
      assignment's cs231n/datasets/coco_captioning), else the offline set in
      datasets/offline_captioning (one line says which was loaded)
    - max_train: If given, keep a random subsample (with replacement) of this
      many training captions
    - pca_features: Load the PCA-reduced features instead of the full ones

    Returns a dict with the keys train_captions (Nc, T), train_image_idxs (Nc,),
    val_captions, val_image_idxs, train_features (Ni, D), val_features,
    idx_to_word (list of V words), word_to_idx (dict), train_urls (Ni,),
    val_urls, and, when the folder lists local images, train_images and
    val_images (absolute paths).
    """
    what = 'base_dir'
    if base_dir is None:
        base_dir = default_base_dir(pca_features)
        if os.environ.get(ENV_VAR):
            what = '$%s' % ENV_VAR
    base_dir = Path(base_dir)
    cmd = BUILD_COMMAND if base_dir.resolve() == OFFLINE_DIR.resolve() else FETCH_COMMAND
    known = base_dir.resolve() in {d.resolve() for d in (BASE_DIR, COURSE_DIR, OFFLINE_DIR)}
    if not base_dir.is_dir() and not known:   # a folder of one's own: most likely a wrong path
        raise FileNotFoundError(
            'No such folder: %s (base_dir). Give the folder that holds %s, or leave base_dir out to use '
            'the default dataset; the real COCO data comes from `%s`.' % (base_dir, CAPTIONS_FILE, FETCH_COMMAND))
    if not base_dir.is_dir():
        raise FileNotFoundError(
            'No captioning dataset at %s. Get it with `%s`, '
            'or set %s to a dataset folder.' % (base_dir, cmd, ENV_VAR))
    missing = missing_files(base_dir, pca_features)
    if missing and not known and len(missing) == len(required_files(pca_features)):
        inside = sorted(d.name for d in base_dir.iterdir()
                        if d.is_dir() and not missing_files(d, pca_features))
        raise FileNotFoundError(
            '%s (%s) holds none of the dataset\'s files (%s, ...).%s' % (
                base_dir, what, CAPTIONS_FILE, ' Its folder %s holds a complete dataset: %s.' % (
                    ' and '.join(inside), 'load_coco_data(%r)' % str(base_dir / inside[0]) if what == 'base_dir'
                    else 'set %s=%s' % (ENV_VAR, base_dir / inside[0])) if inside else
                ' Give the folder that holds them; the real COCO data comes from `%s`.' % FETCH_COMMAND))
    if missing:
        raise FileNotFoundError(
            'The dataset at %s is incomplete: missing %s. Fetch it again with `%s`.'
            % (base_dir, ', '.join(missing), cmd))

    fix = _repair(base_dir)
    data = _read_h5(base_dir / CAPTIONS_FILE, list(CAPTION_KEYS), fix, others=True)   # all, as officially
    for split in ('train', 'val'):
        path = base_dir / feature_file(split, pca_features)
        data['%s_features' % split] = _read_h5(path, ['features'], fix)['features']

    try:
        with open(base_dir / VOCAB_FILE, encoding='utf-8') as f:
            vocab = json.load(f)
        data['idx_to_word'] = list(vocab['idx_to_word'])
        data['word_to_idx'] = dict(vocab['word_to_idx'])
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetError('%s is not a valid vocabulary file (%s: %s). To fix it, %s.'
                           % (base_dir / VOCAB_FILE, type(e).__name__, e, fix)) from None

    for split in ('train', 'val'):
        data['%s_urls' % split] = _resolve_local(base_dir, _read_lines(base_dir / ('%s2014_urls.txt' % split), fix))
        images = base_dir / ('%s2014_images.txt' % split)
        if images.is_file():
            data['%s_images' % split] = _resolve_local(base_dir, _read_lines(images, fix))

    try:
        _validate(data, base_dir, pca_features)
    except DatasetError as e:
        raise DatasetError('%s. To fix it, %s.' % (str(e).rstrip('.'), fix)) from None

    if max_train is not None:
        num_train = data['train_captions'].shape[0]
        if not isinstance(max_train, (int, np.integer)) or isinstance(max_train, bool) or max_train < 1:
            raise ValueError('load_coco_data: max_train must be None or an integer >= 1; got %r'
                             % (max_train,))
        if max_train > num_train:
            warnings.warn('load_coco_data: max_train=%d is more than the %d training captions: they '
                          'are drawn at random with repetition' % (max_train, num_train), stacklevel=2)
        keep = np.random.randint(num_train, size=max_train)   # as officially: with repetition
        data['train_captions'] = data['train_captions'][keep]
        data['train_image_idxs'] = data['train_image_idxs'][keep]
    return data


def _validate(data, base_dir, pca_features):
    """Check that the files agree with each other; name the file at fault."""
    V = len(data['idx_to_word'])
    for i, w in enumerate(data['idx_to_word']):
        if data['word_to_idx'].get(w) != i:
            raise DatasetError('%s: idx_to_word and word_to_idx disagree on %r (index %d)'
                               % (base_dir / VOCAB_FILE, w, i))
    special = {w: data['word_to_idx'].get(w) for w in ('<NULL>', '<START>', '<END>')}
    if special['<NULL>'] != 0 or None in special.values():
        raise DatasetError('%s: the vocabulary must have <NULL> at index 0, and <START> and <END>; '
                           'it has %s' % (base_dir / VOCAB_FILE, special))
    for split in ('train', 'val'):
        caps = data['%s_captions' % split]
        idxs = data['%s_image_idxs' % split]
        feats = data['%s_features' % split]
        urls = data['%s_urls' % split]
        if caps.ndim != 2 or idxs.shape != (caps.shape[0],):
            raise DatasetError('%s: %s_captions has shape %s and %s_image_idxs %s; expected (N, T) '
                               'and (N,)' % (base_dir / CAPTIONS_FILE, split, caps.shape, split, idxs.shape))
        for name, a in (('captions', caps), ('image_idxs', idxs)):
            if not np.issubdtype(a.dtype, np.integer):
                raise DatasetError('%s: %s_%s must hold integers; it holds %s'
                                   % (base_dir / CAPTIONS_FILE, split, name, a.dtype))
        if split == 'train' and caps.shape[0] == 0:
            raise DatasetError('%s holds no training captions' % (base_dir / CAPTIONS_FILE))
        if split == 'val' and caps.shape[1] != data['train_captions'].shape[1]:
            raise DatasetError('%s: val_captions have %d tokens and train_captions %d; they must '
                               'be padded to the same length'
                               % (base_dir / CAPTIONS_FILE, caps.shape[1], data['train_captions'].shape[1]))
        if caps.size and (caps.min() < 0 or caps.max() >= V):
            raise DatasetError('%s: %s_captions holds word ids up to %d, but %s has only %d words: '
                               'the vocabulary does not match the captions'
                               % (base_dir / CAPTIONS_FILE, split, caps.max(), base_dir / VOCAB_FILE, V))
        ffile = base_dir / feature_file(split, pca_features)
        if feats.ndim != 2:
            raise DatasetError('%s: features should be a 2-d array (images, D); got shape %s'
                               % (ffile, feats.shape))
        if not np.issubdtype(feats.dtype, np.floating):
            raise DatasetError('%s: features must be floating point numbers; they are %s' % (ffile, feats.dtype))
        if not all(np.isfinite(feats[i:i + 8192]).all() for i in range(0, len(feats), 8192)):
            raise DatasetError('%s: the features hold NaN or infinite values' % ffile)
        if split == 'val' and feats.shape[1] != data['train_features'].shape[1]:
            raise DatasetError('%s has D = %d features per image, but the training features have %d'
                               % (ffile, feats.shape[1], data['train_features'].shape[1]))
        if idxs.size and (idxs.min() < 0 or idxs.max() >= feats.shape[0]):
            raise DatasetError('%s has %d rows, but %s_image_idxs in %s refers to image %d: '
                               'the features file has the wrong number of rows'
                               % (ffile, feats.shape[0], split, base_dir / CAPTIONS_FILE, idxs.max()))
        if len(urls) != feats.shape[0]:
            raise DatasetError('%s lists %d images but %s has %d rows'
                               % (base_dir / ('%s2014_urls.txt' % split), len(urls), ffile, feats.shape[0]))
        imgs = data.get('%s_images' % split)
        if imgs is not None and len(imgs) != feats.shape[0]:
            raise DatasetError('%s lists %d images but %s has %d rows'
                               % (base_dir / ('%s2014_images.txt' % split), len(imgs), ffile, feats.shape[0]))


def decode_captions(captions, idx_to_word):
    """Turn word ids into strings: <NULL> is skipped, and a caption stops
    after its <END>.

    Inputs:
    - captions: Integer array of shape (N, T), or (T,) for a single caption
    - idx_to_word: List (or dict) mapping ids to words

    Returns:
    - A list of N strings, or one string for a 1-d input
    """
    try:
        captions = np.asarray(captions)
    except ValueError:   # rows of different lengths
        raise ValueError('decode_captions: captions must be an integer array of shape (N, T) or (T,); got '
                         'rows of different lengths: pad them with <NULL> (0) to one length T') from None
    if captions.size == 0 and captions.ndim in (1, 2):
        return '' if captions.ndim == 1 else [''] * captions.shape[0]
    if captions.ndim not in (1, 2) or not np.issubdtype(captions.dtype, np.integer):
        raise ValueError('decode_captions: captions must be an integer array of shape (N, T) or (T,); '
                         'got dtype %s, shape %s' % (captions.dtype, captions.shape))
    if not isinstance(idx_to_word, dict) and captions.size and (
            captions.min() < 0 or captions.max() >= len(idx_to_word)):
        raise ValueError('decode_captions: captions hold word ids in [%d, %d], but idx_to_word has %d '
                         'words: were they encoded with another vocabulary?'
                         % (captions.min(), captions.max(), len(idx_to_word)))
    if isinstance(idx_to_word, dict):
        unknown = sorted(set(np.unique(captions).tolist()) - set(idx_to_word))
        if unknown:
            raise ValueError('decode_captions: captions hold word ids %s that idx_to_word does not have: '
                             'were they encoded with another vocabulary?' % unknown[:10])
    single = captions.ndim == 1
    if single:
        captions = captions[None]
    decoded = []
    for row in captions:
        words = []
        for idx in row:
            word = idx_to_word[int(idx)]
            if word != '<NULL>':
                words.append(word)
            if word == '<END>':
                break
        decoded.append(' '.join(words))
    return decoded[0] if single else decoded


def sample_coco_minibatch(data, batch_size=100, split='train'):
    """A random minibatch (with replacement) of captions with their features.

    Returns a tuple of:
    - captions: Integer array of shape (batch_size, T)
    - features: Array of shape (batch_size, D)
    - urls: Array of batch_size image URLs (None if data has no '<split>_urls')
    """
    check_split(data, split, 'sample_coco_minibatch', shapes=False)
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError('sample_coco_minibatch: batch_size must be an integer >= 1; got %r' % (batch_size,))
    n = data['%s_captions' % split].shape[0]
    if n == 0:
        raise ValueError("sample_coco_minibatch: data['%s_captions'] holds no captions, so there is nothing "
                         "to sample: load the data again (load_coco_data) or give another split" % split)
    pick = np.random.choice(n, batch_size)
    captions = data['%s_captions' % split][pick]
    image_idxs = data['%s_image_idxs' % split][pick]
    features = data['%s_features' % split][image_idxs]
    urls = data['%s_urls' % split][image_idxs] if '%s_urls' % split in data else None
    return captions, features, urls


def check_split(data, split, who, shapes=True):
    """Raise a ValueError unless data has the captions, image indices and
    features of split ('train' or 'val') that training needs, and (shapes)
    they fit together. who names the caller in the message."""
    if split not in ('train', 'val'):
        raise ValueError("%s: split must be 'train' or 'val', got %r" % (who, split))
    keys = ['%s_%s' % (split, k) for k in ('captions', 'image_idxs', 'features')]
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError('%s: data has no %s; it needs %s, as load_coco_data() returns them'
                         % (who, ', '.join(repr(k) for k in missing), ', '.join(keys)))
    if not shapes:
        return
    captions, idxs, features = (np.asarray(data[k]) for k in keys)
    if captions.ndim != 2 or len(captions) == 0 or idxs.shape != (len(captions),):
        raise ValueError('%s: %s must be a non-empty (n, T) array and %s an (n,) array; got shapes '
                         '%s and %s' % (who, keys[0], keys[1], captions.shape, idxs.shape))
    if features.ndim != 2 or idxs.min() < 0 or idxs.max() >= len(features):
        raise ValueError('%s: %s must index the rows of %s (shape %s); got indices in [%d, %d]'
                         % (who, keys[1], keys[2], features.shape, idxs.min(), idxs.max()))
