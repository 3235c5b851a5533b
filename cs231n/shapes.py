"""Input checks for the layers, in the assignment's letters (N, T, D, H, V, ...):
a wrong shape fails at once, with the argument, the shape it must have and
where each size came from, instead of deep inside a product."""
import functools

import numpy as np


@functools.lru_cache(maxsize=None)
def _parse(spec):
    """'N 4H 3' -> ('N', '4H', '3'), ((1, 'N'), (4, 'H'), (3, None)), '(N, 4H, 3)'."""
    dims = tuple(spec.split())
    parsed = tuple((int(d), None) if d.isdigit() else (int(d[:-1] or 1), d[-1]) for d in dims)
    return dims, parsed, '(%s%s)' % (', '.join(dims), ',' if len(dims) == 1 else '')


def _other_cell(cell, Wx, Wh):
    """A clue when the weights fit the other cell: an LSTM's have 4H columns
    for H rows of Wh, a vanilla RNN's Wh is square."""
    if not (isinstance(Wx, np.ndarray) and isinstance(Wh, np.ndarray) and Wx.ndim == Wh.ndim == 2):
        return ''
    H, cols = Wh.shape
    if cell == 'rnn' and cols == 4 * H and Wx.shape[1] == cols:
        return (' (these look like LSTM weights, 4H = %d columns for H = %d: is an LSTM model '
                'calling an rnn_* function?)' % (cols, H))
    if cell == 'lstm' and cols == H and Wx.shape[1] == cols:
        return (' (these look like vanilla RNN weights, H = %d columns: is an RNN model calling '
                'an lstm_* function?)' % H)
    return ''


def check_shapes(fn, cached=(), cell=None, **specs):
    """Check arrays against shapes written with letters.

    Inputs:
    - fn: Name of the calling function, for the message
    - specs: name=(array, 'N T D'), one word per dimension: a letter (a size
      shared by every argument that uses it, set by the first of them), a
      multiple of one ('4H') or a number. Checked in the order given, so the
      arguments to trust most (the weights) go first.
    - cached: Names among specs that come from a forward pass's cache: a
      size they set is not questioned in the message
    - cell: 'rnn' or 'lstm' when specs hold the cell's Wx and Wh: weights
      that fit the other cell get a clue in the message

    Returns:
    - sizes: Dict from letter to size

    Raises ValueError naming fn, the argument, the shape it must have and
    where each of its sizes came from.
    """
    sizes, source = {}, {}
    for name, (a, spec) in specs.items():
        dims, parsed, written = _parse(spec)
        if not isinstance(a, np.ndarray):
            raise ValueError('%s: %s must be a numpy array of shape %s; got %s (convert it with np.asarray)'
                             % (fn, name, written, type(a).__name__))
        shape = a.shape
        if len(shape) != len(dims):
            raise ValueError('%s: %s must be a %d-D array of shape %s; got shape %s'
                             % (fn, name, len(dims), written, shape))
        for d, (k, letter), n in zip(dims, parsed, shape):
            if letter is not None and letter not in sizes:
                if n % k:
                    clue = _other_cell(cell, specs['Wx'][0], specs['Wh'][0]) if cell else ''
                    raise ValueError('%s: %s must have shape %s, with %s a multiple of %d; got %s%s'
                                     % (fn, name, written, d, k, shape, clue))
                sizes[letter], source[letter] = n // k, name
        want = tuple(k * sizes[letter] if letter else k for k, letter in parsed)
        if shape != want:
            by_source = {}
            for _, letter in parsed:
                if letter and source[letter] != name:
                    by_source.setdefault(source[letter], {})[letter] = sizes[letter]
            origin = '; '.join('%s from %s' % (', '.join('%s = %d' % kv for kv in got.items()), src)
                               for src, got in by_source.items())
            # the sizes came from arguments checked earlier: one of those may be the wrong one
            suspects = [src for src in by_source if src not in cached]
            blame = ': %s has the wrong shape' % ' or '.join([name] + suspects) if suspects else ''
            clue = _other_cell(cell, specs['Wx'][0], specs['Wh'][0]) if cell else ''
            raise ValueError('%s: %s must have shape %s = %s%s; got %s%s%s'
                             % (fn, name, written, want, ' (%s)' % origin if origin else '', shape, blame,
                                clue))
    return sizes


def check_word_ids(fn, name, ids, V, vocab):
    """Raise a ValueError unless ids (any shape) are integers in [0, V), V
    being the vocabulary size of the argument named vocab."""
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError('%s: %s must hold integer word ids; got dtype %s' % (fn, name, ids.dtype))
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError('%s: %s holds word ids in [%d, %d], but %s has V = %d: ids must be '
                         'in [0, %d)' % (fn, name, ids.min(), ids.max(), vocab, V, V))
