"""Corpus BLEU (Papineni et al., 2002) for generated captions, with several
reference captions per image.

For each n-gram order n, the n-grams of every hypothesis are matched against
its references: a hypothesis n-gram counts at most as many times as it occurs
in any single reference ("clipping"). Matches and hypothesis n-gram totals are
summed over the whole corpus before dividing, giving the modified precision
p_n. Short hypotheses are penalised by the brevity penalty

    BP = 1 if c > r else exp(1 - r / c)

where c is the total hypothesis length and r the sum, over hypotheses, of the
reference length closest to the hypothesis length (on a tie, the shorter one).
Then BLEU = BP * exp(sum_n w_n log p_n); BLEU-n uses w_1 = ... = w_n = 1/n.
There is no smoothing: a zero precision makes the score 0.
"""
import math
import re
from collections import Counter

import numpy as np

from .coco_utils import decode_captions

SPECIAL_TOKENS = ('<NULL>', '<START>', '<END>')   # <UNK> is kept as a word
_WORD = re.compile('[a-z]+')


def tokenize(text):
    """Split a raw caption into words the way the dataset captions were made:
    lower-case it and keep the runs of letters a-z.

    Inputs:
    - text: A string, e.g. 'A dog, running.'

    Returns:
    - A list of words, e.g. ['a', 'dog', 'running']
    """
    if not isinstance(text, str):
        raise ValueError('tokenize expects a string, got %s' % type(text).__name__)
    return _WORD.findall(text.lower())


def caption_tokens(caption):
    """Turn a decoded caption (a string from decode_captions) into tokens:
    <START> and <NULL> are dropped, the caption stops at <END>, and <UNK>
    stays a token.

    Inputs:
    - caption: A string such as '<START> a dog on the <UNK> <END>'

    Returns:
    - A list of tokens, e.g. ['a', 'dog', 'on', 'the', '<UNK>']
    """
    if not isinstance(caption, str):
        raise ValueError('caption_tokens expects a decoded caption string, got %s'
                         % type(caption).__name__)
    tokens = []
    for word in caption.split():
        if word == '<END>':
            break
        if word not in SPECIAL_TOKENS:
            tokens.append(word)
    return tokens


def _ngrams(tokens, n):
    """Counter of the n-grams (tuples) of a token list."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check_tokens(tokens, what):
    if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)):
        raise ValueError('%s must be a list of tokens (strings), got %s; split text with '
                         'tokenize() first' % (what, type(tokens).__name__))
    return list(tokens)


def _corpus_stats(references, hypotheses, max_n):
    """Corpus totals for BLEU.

    Returns a tuple of:
    - matches: List of max_n clipped n-gram match counts, for n = 1..max_n
    - totals: List of max_n hypothesis n-gram counts
    - c: Total hypothesis length
    - r: Effective reference length (sum of the closest reference lengths)
    """
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise ValueError('references and hypotheses must be lists, not strings')
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError('got %d hypotheses but %d lists of references: there must be one '
                         'list of references per hypothesis' % (len(hypotheses), len(references)))
    matches, totals = [0] * max_n, [0] * max_n
    c = r = 0
    for i, (refs, hyp) in enumerate(zip(references, hypotheses)):
        hyp = _check_tokens(hyp, 'hypothesis %d' % i)
        if isinstance(refs, str) or not isinstance(refs, (list, tuple)):
            raise ValueError('references[%d] must be a list of token lists, got %s'
                             % (i, type(refs).__name__))
        refs = [_check_tokens(ref, 'reference %d of hypothesis %d' % (j, i))
                for j, ref in enumerate(refs)]
        if not refs:
            raise ValueError('hypothesis %d has no references' % i)

        for n in range(1, max_n + 1):
            hyp_counts = _ngrams(hyp, n)
            max_ref = Counter()
            for ref in refs:
                for gram, count in _ngrams(ref, n).items():
                    max_ref[gram] = max(max_ref[gram], count)
            matches[n - 1] += sum(min(count, max_ref[gram]) for gram, count in hyp_counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)

        c += len(hyp)
        # Closest reference length; on a tie the shorter one wins.
        r += min((abs(len(ref) - len(hyp)), len(ref)) for ref in refs)[1]
    return matches, totals, c, r


def _bleu_from_stats(matches, totals, c, r, weights):
    if c == 0:
        return 0.0
    log_sum = 0.0
    for w, m, t in zip(weights, matches, totals):
        if w == 0:
            continue
        if m == 0:          # also covers t == 0: no n-grams of this order at all
            return 0.0
        log_sum += w * math.log(m / t)
    bp = 1.0 if c > r else math.exp(1.0 - r / c)
    return bp * math.exp(log_sum)


def _check_weights(max_n, weights):
    if weights is None:
        if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or max_n < 1:
            raise ValueError('max_n must be a positive integer, got %r' % (max_n,))
        return [1.0 / max_n] * int(max_n)
    weights = [float(w) for w in weights]
    if not weights:
        raise ValueError('weights must not be empty')
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError('weights must be finite and non-negative, got %r' % (weights,))
    return weights


def corpus_bleu(references, hypotheses, max_n=4, weights=None):
    """Corpus-level BLEU with clipped n-gram counts and the brevity penalty.

    Inputs:
    - references: List of N lists; references[i] holds the reference captions
      of hypothesis i (at least one), each a list of tokens
    - hypotheses: List of N hypotheses, each a list of tokens
    - max_n: Largest n-gram order; the weights are uniform, 1 / max_n each
    - weights: Optional weights (w_1, ..., w_K) for the orders 1..K; when
      given, they replace the uniform weights and max_n is not used. Orders
      with weight 0 do not affect the score.

    Returns:
    - bleu: A float in [0, 1]; 0.0 for an empty corpus, or when some order
      with a positive weight has no matching n-gram (no smoothing)
    """
    weights = _check_weights(max_n, weights)
    stats = _corpus_stats(references, hypotheses, len(weights))
    return _bleu_from_stats(*stats, weights)


def bleu_scores(references, hypotheses):
    """BLEU-1 to BLEU-4 of a corpus (uniform weights over orders 1..n).

    Inputs: as for corpus_bleu.

    Returns:
    - A dict {'BLEU-1': float, 'BLEU-2': ..., 'BLEU-3': ..., 'BLEU-4': ...}
    """
    stats = _corpus_stats(references, hypotheses, 4)
    return {'BLEU-%d' % n: _bleu_from_stats(*stats, [1.0 / n] * n) for n in range(1, 5)}


def evaluate_bleu(model, data, split='val', max_length=30, batch_size=500, references='tokens'):
    """Caption every image of a split greedily and score the captions with
    BLEU-1..4 against all the reference captions of each image.

    Inputs:
    - model: An object with sample(features, max_length) returning word ids
      of shape (N, max_length), such as CaptioningRNN
    - data: Dict from load_coco_data
    - split: 'train' or 'val'; the images are the rows of data[split + '_features']
    - max_length: Maximum length of a sampled caption
    - batch_size: Number of images sampled at once
    - references: 'tokens' to use the dataset captions of each image (rows of
      data[split + '_captions'] whose data[split + '_image_idxs'] is that
      image, decoded with data['idx_to_word'], specials removed), or a list
      with one entry per image: a list of reference captions, each a raw
      string (split with tokenize) or a list of tokens

    Images without any reference caption (e.g. after load_coco_data with
    max_train) are skipped.

    Returns:
    - A dict {'BLEU-1': float, ..., 'BLEU-4': float}
    """
    for key in ('%s_features' % split, 'idx_to_word'):
        if key not in data:
            raise ValueError('data has no %r (split %r)' % (key, split))
    for name, value in (('max_length', max_length), ('batch_size', batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError('%s must be a positive integer, got %r' % (name, value))
    features = data['%s_features' % split]
    idx_to_word = data['idx_to_word']
    num_images = features.shape[0]

    if isinstance(references, str):
        if references != 'tokens':
            raise ValueError("references must be 'tokens' or a list of reference captions "
                             "per image, got %r" % (references,))
        for key in ('%s_captions' % split, '%s_image_idxs' % split):
            if key not in data:
                raise ValueError('data has no %r' % key)
        refs = [[] for _ in range(num_images)]
        image_idxs = np.asarray(data['%s_image_idxs' % split])
        decoded = decode_captions(data['%s_captions' % split], idx_to_word)
        for idx, caption in zip(image_idxs, decoded):
            refs[int(idx)].append(caption_tokens(caption))
    else:
        references = list(references)
        if len(references) != num_images:
            raise ValueError('references has %d entries but split %r has %d images'
                             % (len(references), split, num_images))
        refs = [[tokenize(r) if isinstance(r, str) else list(r) for r in image_refs]
                for image_refs in references]

    keep = np.array([i for i in range(num_images) if refs[i]], dtype=int)
    if keep.size == 0:
        raise ValueError('no image of split %r has a reference caption' % (split,))

    hypotheses = []
    for start in range(0, keep.size, batch_size):
        batch = keep[start:start + batch_size]
        sampled = model.sample(features[batch], max_length=max_length)
        hypotheses += [caption_tokens(c) for c in decode_captions(np.asarray(sampled), idx_to_word)]
    return bleu_scores([refs[i] for i in keep], hypotheses)
