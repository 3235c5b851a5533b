# %% [markdown]
# # Caption explorer
#
# Poke a trained captioning model: pick an image, pick how words are chosen,
# and see the caption with the probability of every word: the model's own
# probability of that word after the ones before it (its softmax, temperature 1,
# whatever the sampling), so a word drawn at a high temperature may show a
# tiny p.
#
# * **greedy**: always the most likely word (what `sample()` does by default);
# * **temperature**: draw each word at random from the model's distribution,
#   sharpened (temperature below 1) or flattened (above 1); "Sample again"
#   draws once more;
# * **beam**: keep the few most likely partial captions at every step and
#   return the most likely complete one it found. That is not always more
#   likely than the greedy caption (a beam can drop the partial caption that
#   greedy goes on with), and, with no correction for length, it favours
#   short captions: compare the probabilities to see it.
#
# The explorer holds the model object it was given: after training that model
# further in another cell, "Caption again" uses its new parameters; a new model
# (the training cell run again) needs the explorer cell run again.
#
# The first cell trains a small model: three passes over at most 20,000
# training captions (about five seconds on the offline set, half a minute on
# COCO). In the RNN and LSTM notebooks the same explorer opens on the model you
# just trained. A model saved by a solver with `checkpoint_path=...` opens with
# `CaptionExplorer(CaptioningRNN.from_checkpoint(path), data).show()`.

# %% tags=["nbval-ignore-output"]
import numpy as np

from cs231n.captioning_solver import CaptioningSolver
from cs231n.classifiers.rnn import CaptioningRNN
from cs231n.coco_utils import load_coco_data
from cs231n.widgets import CaptionExplorer

data = load_coco_data()
# train on the first 20,000 captions only (all of the offline set's); the
# explorer still shows every image and all its captions
train_data = dict(data, train_captions=data['train_captions'][:20000],
                  train_image_idxs=data['train_image_idxs'][:20000])
np.random.seed(231)
model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1],
                      wordvec_dim=128, hidden_dim=256, cell_type='rnn')
solver = CaptioningSolver(model, train_data, update_rule='adam', optim_config={'learning_rate': 5e-3},
                          lr_decay=0.95, batch_size=100, num_epochs=3, print_every=100)
solver.train()
print('trained %d iterations, final training loss %.2f' % (len(solver.loss_history), solver.loss_history[-1]))

# %% tags=["nbval-ignore-output"]
assert solver.loss_history, ('the training above did not run: fix the error it stopped with first '
                             '(the explorer would show an untrained model)')
CaptionExplorer(model, data, split='val').show()
