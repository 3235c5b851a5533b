"""The main job: an end-to-end run on the default dataset.

    python -m cs231n.main [--out DIR]

Loads the data, overfits a small RNN and LSTM captioning model on 50 captions
(the assignment's settings), plots the loss curves, samples captions, and
prints a summary. Exits non-zero when a check fails.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .captioning_solver import CaptioningSolver
from .classifiers.rnn import CaptioningRNN
from .coco_utils import decode_captions, load_coco_data

BOUNDS = {'rnn': 0.2, 'lstm': 0.5}  # final training loss when overfitting 50 captions


def small_subset(data, n=50):
    """n captions of n distinct training images."""
    idx = data['train_image_idxs']
    _, first = np.unique(idx, return_index=True)
    pick = np.sort(first)[:n]
    small = dict(data)
    small['train_captions'] = data['train_captions'][pick]
    small['train_image_idxs'] = idx[pick]
    return small


def overfit(data, cell_type):
    np.random.seed(231)
    model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1],
                          hidden_dim=512, wordvec_dim=256, cell_type=cell_type)
    solver = CaptioningSolver(model, data, update_rule='adam', num_epochs=50, batch_size=25,
                              optim_config={'learning_rate': 5e-3},
                              lr_decay={'rnn': 0.95, 'lstm': 0.995}[cell_type], print_every=25)
    solver.train()
    return model, solver


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=os.environ.get('CS231N_OUT', 'out'),
                    help='folder for the plots (default: out/)')
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = small_subset(load_coco_data(pca_features=True))
    failures, losses = [], {}
    for cell_type in ('rnn', 'lstm'):
        print('\n== Overfitting a %s on %d captions ==' % (cell_type.upper(), len(data['train_captions'])))
        t0 = time.time()
        model, solver = overfit(data, cell_type)
        final = solver.loss_history[-1]
        losses[cell_type] = solver.loss_history
        ok = final < BOUNDS[cell_type]
        print('%s final loss %.3f (%s: must be below %.1f), %.0f s'
              % (cell_type.upper(), final, 'PASS' if ok else 'FAIL', BOUNDS[cell_type], time.time() - t0))
        if not ok:
            failures.append('%s final loss %.3f >= %.1f' % (cell_type, final, BOUNDS[cell_type]))
        feats = data['train_features'][data['train_image_idxs'][:3]]
        for truth, sampled in zip(decode_captions(data['train_captions'][:3], data['idx_to_word']),
                                  decode_captions(model.sample(feats), data['idx_to_word'])):
            print('  truth:  ', truth)
            print('  sampled:', sampled)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for cell_type, hist in losses.items():
        ax.plot(hist, label=cell_type.upper())
    ax.set(xlabel='iteration', ylabel='training loss', yscale='log',
           title='Overfitting 50 captions')
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / 'overfit_loss.png', dpi=100)
    print('\nLoss curves: %s' % (out / 'overfit_loss.png'))

    if failures:
        print('FAILED: ' + '; '.join(failures))
        return 1
    print('All checks passed.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
