# %% [markdown]
# # Caption explorer
#
# Poke a trained captioning model: pick an image, pick how words are chosen,
# and see the caption with the probability of every word.
#
# * **greedy**: always the most likely word (what `sample()` does by default);
# * **temperature**: draw each word at random from the model's distribution,
#   sharpened (temperature below 1) or flattened (above 1); "Sample again"
#   draws once more;
# * **beam**: keep the few most likely partial captions at every step and
#   return the most likely complete one.
#
# The first cell trains a small model for a few seconds. In the RNN and LSTM
# notebooks the same explorer opens on the model you just trained.

# %% tags=["nbval-ignore-output"]
import numpy as np

from cs231n.captioning_solver import CaptioningSolver
from cs231n.classifiers.rnn import CaptioningRNN
from cs231n.coco_utils import load_coco_data
from cs231n.widgets import CaptionExplorer

data = load_coco_data()
np.random.seed(231)
model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1],
                      wordvec_dim=128, hidden_dim=256, cell_type='rnn')
solver = CaptioningSolver(model, data, update_rule='adam', optim_config={'learning_rate': 5e-3},
                          batch_size=100, num_epochs=1, verbose=False)
history = solver.train()
print('trained %d iterations, final training loss %.2f' % (len(history), history[-1]))

# %% tags=["nbval-ignore-output"]
CaptionExplorer(model, data, split='val').show()
