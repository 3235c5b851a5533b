"""Corpus BLEU: hand-computed cases, agreement with nltk on real COCO captions,
and evaluate_bleu on a fake model."""
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from cs231n.bleu import (bleu_scores, caption_tokens, corpus_bleu, evaluate_bleu,
                         tokenize)

REPO = Path(__file__).resolve().parent.parent
NLTK_WEIGHTS = [(1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]


def toks(*sentences):
    return [s.split() for s in sentences]


# ---------------------------------------------------------------- hand-computed

def test_perfect_match_is_one():
    refs = [toks('a man rides a horse on the beach', 'someone on a horse')]
    hyps = toks('a man rides a horse on the beach')
    assert bleu_scores(refs, hyps) == {'BLEU-1': 1.0, 'BLEU-2': 1.0, 'BLEU-3': 1.0, 'BLEU-4': 1.0}


def test_clipping_the_example():
    # "the" occurs at most twice in a single reference: p1 = 2/7. c = 7 and the
    # closest reference has length 7, so BP = 1 and BLEU-1 = p1.
    refs = [toks('the cat is on the mat', 'there is a cat on the mat')]
    hyps = toks('the the the the the the the')
    assert corpus_bleu(refs, hyps, max_n=1) == pytest.approx(2 / 7, abs=1e-12)
    assert corpus_bleu(refs, hyps, weights=(1,)) == pytest.approx(2 / 7, abs=1e-12)
    # Clipping is per reference, not over the union: two references with one
    # "the" each still allow only one match (c = 7 > r = 6, so BP = 1).
    refs = [toks('the cat sat down now ok', 'on the mat we go sat')]
    hyps = toks('the the the the the the the')
    assert corpus_bleu(refs, hyps, max_n=1) == pytest.approx(1 / 7)


def test_known_bleu4_value():
    # p1 = 5/6, p2 = 3/5, p3 = 2/4, p4 = 1/3, BP = 1 -> BLEU-4 = (1/12) ** (1/4)
    refs = [toks('the cat sat on a mat')]
    hyps = toks('the cat sat on the mat')
    s = bleu_scores(refs, hyps)
    assert s['BLEU-1'] == pytest.approx(5 / 6)
    assert s['BLEU-2'] == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert s['BLEU-3'] == pytest.approx((5 / 6 * 3 / 5 * 2 / 4) ** (1 / 3))
    assert s['BLEU-4'] == pytest.approx((1 / 12) ** 0.25)


def test_brevity_penalty_closest_reference():
    # c = 4, closest reference length r = 5 (not 9): BP = exp(1 - 5/4)
    refs = [toks('a dog on grass now', 'a big brown dog lies on the green grass')]
    hyps = toks('a dog on grass')
    assert corpus_bleu(refs, hyps, max_n=1) == pytest.approx(math.exp(1 - 5 / 4))


def test_brevity_penalty_tie_takes_shorter_reference():
    # Hypothesis of length 5, references of lengths 4 and 6 (equally close):
    # r = 4 < c, so BP = 1. Taking the longer one would give exp(1 - 6/5).
    refs = [toks('a b c d', 'a b c d e f')]
    hyps = toks('a b c d e')
    assert corpus_bleu(refs, hyps) == 1.0
    # The order of the references does not matter.
    assert corpus_bleu([refs[0][::-1]], hyps) == 1.0


def test_brevity_penalty_is_corpus_level():
    # c = 3 + 2 = 5, r = 3 + 4 = 7; every hypothesis word matches.
    refs = [toks('a b c'), toks('x y z w')]
    hyps = toks('a b c', 'x y')
    assert corpus_bleu(refs, hyps, max_n=1) == pytest.approx(math.exp(1 - 7 / 5))
    # Longer than the references: no penalty (only the clipping, p1 = 2/4)
    assert corpus_bleu([toks('a b')], toks('a b a b'), max_n=1) == 0.5


def test_counts_are_summed_over_the_corpus():
    # Not the average of sentence scores: p1 = (1 + 3) / (2 + 3)
    refs = [toks('a b'), toks('c d e')]
    hyps = toks('a x', 'c d e')
    assert corpus_bleu(refs, hyps, max_n=1) == pytest.approx(4 / 5)


def test_zero_precision_gives_zero():
    refs = [toks('b a d c')]
    hyps = toks('a b c d')          # all unigrams match, no bigram does
    s = bleu_scores(refs, hyps)
    assert s['BLEU-1'] == 1.0
    assert s['BLEU-2'] == s['BLEU-3'] == s['BLEU-4'] == 0.0
    # An order with weight 0 does not count
    assert corpus_bleu(refs, hyps, weights=(1, 0, 0, 0)) == 1.0
    # Hypotheses too short to have any 4-gram
    assert bleu_scores([toks('a b c')], toks('a b c'))['BLEU-4'] == 0.0
    # No matching word at all, and empty hypotheses
    assert corpus_bleu([toks('a b')], toks('c d')) == 0.0
    assert corpus_bleu([toks('a b')], [[]]) == 0.0


def test_empty_corpus_is_zero():
    assert corpus_bleu([], []) == 0.0
    assert bleu_scores([], []) == {'BLEU-%d' % n: 0.0 for n in range(1, 5)}


def test_input_errors():
    with pytest.raises(ValueError, match='2 hypotheses but 1'):
        corpus_bleu([toks('a b')], toks('a b', 'c d'))
    with pytest.raises(ValueError, match='hypothesis 1 has no references'):
        corpus_bleu([toks('a b'), []], toks('a b', 'c d'))
    with pytest.raises(ValueError, match='tokenize'):
        corpus_bleu([toks('a b')], ['a b'])
    with pytest.raises(ValueError, match='references\\[0\\]'):
        corpus_bleu(['a b'], toks('a b'))
    with pytest.raises(ValueError, match='max_n'):
        corpus_bleu([toks('a b')], toks('a b'), max_n=0)
    with pytest.raises(ValueError, match='weights'):
        corpus_bleu([toks('a b')], toks('a b'), weights=(1, -1))


def test_tokenize_and_caption_tokens():
    assert tokenize("A Man's 2 dogs, running!") == ['a', 'man', 's', 'dogs', 'running']
    assert tokenize('') == []
    assert caption_tokens('<START> a <UNK> on the grass <END>') == ['a', '<UNK>', 'on', 'the', 'grass']
    assert caption_tokens('a dog <END> <NULL> <NULL>') == ['a', 'dog']
    assert caption_tokens('<NULL> a dog <END> cat') == ['a', 'dog']


# ---------------------------------------------------------------- nltk on real captions

def _raw_captions():
    env = os.environ.get('CS231N_COCO_MINI')
    path = (Path(env) if env else REPO.parent / 'shared' / 'coco_mini') / 'captions_raw.json'
    if not path.is_file():
        pytest.skip('the coco_mini fixture captions_raw.json is not at %s '
                    '(set CS231N_COCO_MINI to the fixture folder)' % path)
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _nltk_scores(refs, hyps):
    nltk_bleu = pytest.importorskip('nltk.translate.bleu_score')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')     # nltk warns when an n-gram order has no match
        return [nltk_bleu.corpus_bleu(refs, hyps, weights=w) for w in NLTK_WEIGHTS]


def _assert_agrees(refs, hyps):
    ours = bleu_scores(refs, hyps)
    theirs = _nltk_scores(refs, hyps)
    for n, value in enumerate(theirs, start=1):
        assert ours['BLEU-%d' % n] == pytest.approx(value, abs=1e-6), 'BLEU-%d' % n
    return ours


def _split_corpus(raw, split):
    refs, hyps = [], []
    for image in raw[split]:
        caps = [tokenize(c) for c in image['captions']]
        hyps.append(caps[0])
        refs.append(caps[1:])
    return refs, hyps


@pytest.mark.parametrize('split', ['train', 'val'])
def test_agrees_with_nltk_on_real_captions(split):
    raw = _raw_captions()
    refs, hyps = _split_corpus(raw, split)
    assert len(hyps) == {'train': 211, 'val': 60}[split]
    ours = _assert_agrees(refs, hyps)
    assert 0.1 < ours['BLEU-4'] < ours['BLEU-1'] < 1


@pytest.mark.parametrize('split', ['train', 'val'])
def test_agrees_with_nltk_on_mangled_captions(split):
    raw = _raw_captions()
    refs, hyps = _split_corpus(raw, split)
    rng = np.random.RandomState(0)
    mangled = []
    for h in hyps:
        words = [w for w in h if rng.rand() > 0.3]          # drop about 30% of the words
        for _ in range(2):                                  # and swap two random pairs
            if len(words) > 1:
                i, j = rng.randint(len(words), size=2)
                words[i], words[j] = words[j], words[i]
        mangled.append(words)
    ours = _assert_agrees(refs, mangled)
    clean = bleu_scores(refs, hyps)
    assert ours['BLEU-4'] < 0.5 * clean['BLEU-4']
    assert ours['BLEU-1'] < clean['BLEU-1']
    # Captions of the wrong images: low, and still the same as nltk
    shifted = _assert_agrees(refs, hyps[1:] + hyps[:1])
    assert shifted['BLEU-4'] < 0.5 * clean['BLEU-4']


def test_nltk_brevity_tie_rule_matches():
    nltk_bleu = pytest.importorskip('nltk.translate.bleu_score')
    refs = [toks('a b c d', 'a b c d e f')]
    hyps = toks('a b c d e')
    assert nltk_bleu.closest_ref_length(refs[0], 5) == 4
    assert nltk_bleu.corpus_bleu(refs, hyps) == pytest.approx(corpus_bleu(refs, hyps)) == 1.0
    # Hypothesis shorter than both, several sentences, partial matches
    refs = [toks('a b c d e f', 'a b c d e f g h'), toks('x y z', 'x y z w v')]
    hyps = toks('a b c e', 'x y z w')
    _assert_agrees(refs, hyps)


# ---------------------------------------------------------------- evaluate_bleu

WORDS = ['<NULL>', '<START>', '<END>', '<UNK>', 'a', 'cat', 'dog', 'on', 'the', 'mat', 'sofa']
W = {w: i for i, w in enumerate(WORDS)}


def _ids(sentence, length):
    row = [W[w] for w in sentence.split()]
    return row + [W['<NULL>']] * (length - len(row))


class FakeModel:
    """sample() returns a fixed caption per image; feature column 0 is the image index."""

    def __init__(self, captions):
        self.captions = captions
        self.calls = []

    def sample(self, features, max_length=30):
        images = [int(i) for i in features[:, 0]]
        self.calls.append((images, max_length))
        return np.array([_ids(self.captions[i], max_length) for i in images], dtype=np.int32)


def _fake_data():
    # Image 0 has three references; its hypothesis equals only the last one.
    # Image 1 has two. Image 2 has none (skipped).
    captions = [('<START> a dog on the sofa <END>', 0),
                ('<START> the <UNK> <END>', 1),
                ('<START> a cat <END>', 0),
                ('<START> a cat on the mat <END>', 0),
                ('<START> a <UNK> <END> <NULL>', 1)]
    T = 8
    features = np.zeros((3, 4), dtype=np.float32)
    features[:, 0] = np.arange(3)
    return {'val_features': features,
            'val_captions': np.array([_ids(c, T) for c, _ in captions], dtype=np.int32),
            'val_image_idxs': np.array([i for _, i in captions]),
            'idx_to_word': list(WORDS), 'word_to_idx': dict(W)}


def test_evaluate_bleu_uses_all_references():
    data = _fake_data()
    model = FakeModel({0: 'a cat on the mat <END>', 1: 'a <UNK> <END>', 2: 'a dog <END>'})
    scores = evaluate_bleu(model, data, split='val', max_length=7, batch_size=1)
    # Each hypothesis equals one of its references (including <UNK>): all 1.0
    assert scores == {'BLEU-%d' % n: 1.0 for n in range(1, 5)}
    # One sample per image that has references, with the given max_length
    assert model.calls == [([0], 7), ([1], 7)]

    model = FakeModel({0: 'a dog on the mat <END> <NULL>', 1: 'the <UNK> <END>', 2: 'a cat'})
    scores = evaluate_bleu(model, data, max_length=9, batch_size=500)
    assert model.calls == [([0, 1], 9)]
    refs = [toks('a dog on the sofa', 'a cat', 'a cat on the mat'), toks('the <UNK>', 'a <UNK>')]
    hyps = toks('a dog on the mat', 'the <UNK>')
    assert scores == bleu_scores(refs, hyps)
    assert scores != bleu_scores([refs[0][:1], refs[1][:1]], hyps)


def test_evaluate_bleu_raw_references_and_errors():
    data = _fake_data()
    model = FakeModel({0: 'a cat on the mat <END>', 1: 'a <UNK> <END>', 2: 'the cat <END>'})
    raw = [['A cat, on the mat.'], ['A bird!'], ['The cat', ['the', 'cat', 'sits']]]
    scores = evaluate_bleu(model, data, references=raw, batch_size=2)
    assert model.calls == [([0, 1], 30), ([2], 30)]
    expected = bleu_scores([toks('a cat on the mat'), toks('a bird'), toks('the cat', 'the cat sits')],
                           toks('a cat on the mat', 'a <UNK>', 'the cat'))
    assert scores == expected
    with pytest.raises(ValueError, match='3 images'):
        evaluate_bleu(model, data, references=raw[:2])
    with pytest.raises(ValueError, match="'test_features'"):
        evaluate_bleu(model, data, split='test')
    with pytest.raises(ValueError, match='batch_size'):
        evaluate_bleu(model, data, batch_size=0)
    with pytest.raises(ValueError, match='no image'):
        evaluate_bleu(model, data, references=[[], [], []])
