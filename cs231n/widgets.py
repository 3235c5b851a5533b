"""A caption explorer for a trained model, built with ipywidgets.

    from cs231n.widgets import CaptionExplorer
    CaptionExplorer(model, data).show()

Pick the split and the image (slider or "Random"), the sampling strategy
(greedy, temperature, beam search), and see the image, its ground-truth
captions, the model's caption and the probability of every generated word.

The logic lives in plain methods (`caption_for`, `render`) that tests drive
without a browser; the widgets only call them. Errors never vanish: they show
in the explorer as a readable message.
"""
import html
import io

import numpy as np

from .coco_utils import decode_captions
from .image_utils import dataset_image

STRATEGIES = ('greedy', 'temperature', 'beam')
SPECIAL = {'<START>', '<END>', '<NULL>'}
MAX_LENGTH = 200          # longest caption the explorer generates
IMAGE_CACHE = 64          # images kept, so that changing the sampling fetches nothing


def png_bytes(img):
    """Encode an (H, W, 3) uint8 image as PNG."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.asarray(img, dtype=np.uint8)).save(buf, format='PNG')
    return buf.getvalue()


def prob_colour(p):
    """Red for an unlikely word, green for a likely one."""
    p = float(np.clip(p, 0, 1))
    return 'rgb(%d,%d,90)' % (int(220 * (1 - p)) + 20, int(180 * p) + 40)


def tokens_html(tokens):
    """Coloured words with their probabilities as tooltips and subscripts."""
    parts = []
    for word, p in tokens:
        parts.append('<span class="cx-token" title="p=%.3f" style="background:%s;color:white;'
                     'padding:1px 4px;margin:1px;border-radius:3px;display:inline-block">'
                     '%s<sub style="font-size:70%%;margin-left:2px">%.2f</sub></span>'
                     % (p, prob_colour(p), html.escape(word), p))
    return ''.join(parts)


class CaptionExplorer:
    """Explore the captions a model gives to the images of a dataset.

    Inputs:
    - model: A trained CaptioningRNN (rnn or lstm), built with this data's
      word_to_idx and feature size
    - data: Dict from load_coco_data
    - split: 'train' or 'val' to start with
    - max_length: Longest caption to generate, 1 to MAX_LENGTH

    "Random image" draws from a fixed seed: the same images in the same order
    each time an explorer is opened.
    """

    def __init__(self, model, data, split='val', max_length=30):
        if model is None or not hasattr(model, 'sample') or not hasattr(model, 'params'):
            raise ValueError('CaptionExplorer needs a trained CaptioningRNN as model, got %s: train one '
                             'first (the training cell above), or load a saved one with '
                             'CaptioningRNN.from_checkpoint(path)' % type(model).__name__)
        if split not in ('train', 'val') or '%s_features' % split not in data:
            raise ValueError("split must be 'train' or 'val' (a split of data); got %r" % (split,))
        if data['%s_features' % split].shape[0] == 0:
            raise ValueError('the %s split of data has no images: give split=%r, or load data with '
                             'images in it' % (split, 'train' if split == 'val' else 'val'))
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) \
                or not 1 <= max_length <= MAX_LENGTH:
            raise ValueError('max_length must be a whole number from 1 to %d (words per caption); got %r'
                             % (MAX_LENGTH, max_length))
        vocab = getattr(model, 'word_to_idx', None)
        if vocab is not None and vocab != data['word_to_idx']:
            theirs = data['word_to_idx']
            if len(vocab) == len(theirs):
                w = next(w for w in sorted(vocab, key=str) if theirs.get(w) != vocab[w])
                what = ('the same number of words (%d) as this data\'s, but other word ids (%r is %s in the '
                        'model, %s in the data)' % (len(vocab), w, vocab[w], theirs.get(w, 'missing')))
            else:
                what = 'another vocabulary (%d words) than this data\'s (%d words)' % (len(vocab), len(theirs))
            raise ValueError('the model was built for %s: train it on this data (CaptioningRNN('
                             'data[\'word_to_idx\'], ...)), or load the data it was trained on' % what)
        D, D_model = data['%s_features' % split].shape[1], model.params['W_proj'].shape[0]
        if D != D_model:
            raise ValueError('the model takes image features of size %d, but this data has %d: load the data '
                             'it was trained on (the same pca_features)' % (D_model, D))
        self.model, self.data, self.max_length = model, data, int(max_length)
        self.split, self.index = split, 0
        self.strategy, self.temperature, self.beam_width, self.seed = 'greedy', 1.0, 3, 0
        self.caption, self.tokens, self.error, self.cut = '', [], '', False
        self._rng = np.random.default_rng(0)
        self._ui = None
        self._images = {}      # (split, index) -> (png bytes, note)

    # ---------------------------------------------------------------- logic
    def splits(self):
        """The splits of the data that have images, 'train' then 'val'."""
        return [s for s in ('train', 'val') if '%s_features' % s in self.data
                and self.data['%s_features' % s].shape[0] > 0]

    def num_images(self, split=None):
        """The number of images of a split (default: the current one)."""
        return self.data['%s_features' % (split or self.split)].shape[0]

    def ground_truth(self, split=None, index=None):
        """The reference captions of an image, as text."""
        split = split or self.split
        index = self.index if index is None else index
        rows = np.flatnonzero(self.data['%s_image_idxs' % split] == index)
        caps = decode_captions(self.data['%s_captions' % split][rows], self.data['idx_to_word'])
        return [' '.join(w for w in c.split() if w not in SPECIAL) for c in caps]

    def caption_for(self, split=None, index=None, strategy=None, temperature=None,
                    beam_width=None, seed=None):
        """Sample a caption for one image; every argument defaults to the
        explorer's current setting.

        Inputs:
        - split, index: The image, row `index` of data['<split>_features']
        - strategy: 'greedy', 'temperature' or 'beam'
        - temperature, seed: For 'temperature'
        - beam_width: For 'beam'

        Returns a tuple of:
        - text: The caption, without special tokens
        - tokens: List of (word, probability) pairs of every generated word,
          up to and with <END> (a <NULL> or <START> before it included)
        """
        split = split or self.split
        index = self.index if index is None else index
        strategy = strategy or self.strategy
        if strategy not in STRATEGIES:
            raise ValueError('strategy must be one of %s, got %r' % (', '.join(STRATEGIES), strategy))
        if split not in self.splits():
            raise ValueError('split must be one of %s (the splits of data with images); got %r'
                             % (', '.join(map(repr, self.splits())), split))
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError('image index must be a whole number (a row of data[\'%s_features\']); got %r'
                             % (split, index))
        n = self.num_images(split)
        if not 0 <= index < n:
            raise ValueError('image index %d is out of range for the %s split (0 to %d)' % (index, split, n - 1))
        feats = self.data['%s_features' % split][index:index + 1]
        kw = {}
        if strategy == 'temperature':
            kw = dict(temperature=self.temperature if temperature is None else temperature,
                      rng=np.random.default_rng(self.seed if seed is None else seed))
        elif strategy == 'beam':
            kw = dict(beam_width=self.beam_width if beam_width is None else beam_width)
        ids, probs = self.model.sample(feats, max_length=self.max_length, return_probs=True, **kw)
        if not np.isfinite(probs).all():
            bad = sorted(k for k, v in self.model.params.items() if not np.isfinite(v).all())
            raise ValueError('the model gives NaN or infinite probabilities%s: train it again, with a '
                             'smaller learning_rate' % (' (its %s hold NaN or inf)' % ', '.join(bad) if bad else ''))
        tokens = []     # every generated word, <NULL> or <START> ones too: only <END> ends it
        for i, p in zip(ids[0], probs[0]):
            word = self.data['idx_to_word'][int(i)]
            tokens.append((word, float(p)))
            if word == '<END>':
                break
        self.cut = not tokens or tokens[-1][0] != '<END>'
        text = ' '.join(w for w, _ in tokens if w not in SPECIAL)
        return text, tokens

    def render(self):
        """Recompute the caption for the current settings. Returns the HTML of
        the caption panel; on an error, the error message instead (also kept in
        self.error)."""
        try:
            self.caption, self.tokens = self.caption_for()
            self.error = ''
            refs = self.ground_truth()
            gt = ''.join('<li>%s</li>' % html.escape(c) for c in refs) or (
                '<li><i>none in the loaded data (load_coco_data(max_train=...) keeps only some '
                'training captions)</i></li>')
            cut = ('<div class="cx-cut"><small>no &lt;END&gt; within max_length=%d: the caption is cut '
                   'there</small></div>' % self.max_length) if self.cut else ''
            odd = sorted({w for w, _ in self.tokens if w in ('<NULL>', '<START>')})
            if odd:
                cut += ('<div class="cx-odd"><small>the model generated %s before the end of its caption: '
                        'shown among the words above, left out of the caption text</small></div>'
                        % html.escape(' and '.join(odd)))
            return ('<div class="cx-caption"><b>Model (%s):</b> <span class="cx-text">%s</span></div>'
                    '<div class="cx-tokens" style="margin:4px 0">%s</div>'
                    '<div class="cx-p-note"><small>the number under each word: the model\'s probability of '
                    'it after the words before it (its softmax at temperature 1, whatever the sampling)'
                    '</small></div>%s'
                    '<div><b>Ground truth:</b><ul class="cx-gt">%s</ul></div>'
                    % (html.escape(self.describe_strategy()), html.escape(self.caption),
                       tokens_html(self.tokens), cut, gt))
        except Exception as e:  # shown, never swallowed
            self.caption, self.tokens = '', []
            self.error = '%s: %s' % (type(e).__name__, e)
            return '<div class="cx-error" style="color:#b00"><b>Error:</b> %s</div>' % html.escape(self.error)

    def describe_strategy(self):
        """The current sampling settings, in words."""
        if self.strategy == 'temperature':
            return 'temperature %.2f, seed %d' % (self.temperature, self.seed)
        if self.strategy == 'beam':
            return 'beam width %d' % self.beam_width
        return 'greedy'

    def image(self):
        """(image array, note) of the current image; a placeholder if it is missing."""
        return dataset_image(self.data, self.split, self.index)

    def image_png(self):
        """(PNG bytes, note) of the current image, fetched once per image (a
        failed fetch is tried again next time): a change of the sampling
        settings fetches nothing."""
        key = (self.split, self.index)
        if key in self._images:
            return self._images[key]
        img, note = self.image()
        shown = png_bytes(img), note
        if not note:     # a failure is not kept: the next visit tries again
            if len(self._images) >= IMAGE_CACHE:
                self._images.pop(next(iter(self._images)))
            self._images[key] = shown
        return shown

    def random_image(self):
        """Move to a random image of the current split; returns its index."""
        self.index = int(self._rng.integers(self.num_images()))
        return self.index

    # ---------------------------------------------------------------- widgets
    def widget(self):
        """Build the ipywidgets interface (once) and return its root box."""
        if self._ui is not None:
            return self._ui['root']
        import ipywidgets as w
        ui = {}
        ui['split'] = w.Dropdown(options=self.splits(), value=self.split, description='Split')
        ui['index'] = w.IntSlider(value=self.index, min=0, max=self.num_images() - 1, description='Image',
                                  continuous_update=False)
        ui['random'] = w.Button(description='Random image')
        ui['strategy'] = w.ToggleButtons(options=list(STRATEGIES), value=self.strategy, description='Sampling')
        ui['temperature'] = w.FloatSlider(value=self.temperature, min=0.05, max=2.0, step=0.05,
                                          description='Temperature', continuous_update=False,
                                          style={'description_width': 'initial'})
        ui['beam_width'] = w.IntSlider(value=self.beam_width, min=1, max=10, description='Beam width',
                                       continuous_update=False)
        ui['resample'] = w.Button(description='Sample again')
        ui['recaption'] = w.Button(description='Caption again',
                                   tooltip='with the model as it is now (after training it further)')
        ui['image'] = w.Image(format='png', layout=w.Layout(width='224px', object_fit='contain'))
        ui['note'] = w.HTML()
        ui['panel'] = w.HTML()
        ui['top'] = w.HBox([ui['split'], ui['index'], ui['random']])
        ui['root'] = w.VBox([
            ui['top'],
            w.HBox([ui['strategy']]),
            w.HBox([ui['temperature'], ui['beam_width'], ui['resample'], ui['recaption']]),
            w.HBox([w.VBox([ui['image'], ui['note']]), ui['panel']]),
        ])
        ui['root'].add_class('caption-explorer')
        self._ui = ui

        def on_change(name):
            def handler(change):
                setattr(self, name, change['new'])
                if name == 'split':
                    # a new image slider for the split's range: one whose max is raised keeps
                    # its old range for the End key in the browser (ipywidgets 8.1)
                    old = ui['index']
                    self.index = min(self.index, self.num_images() - 1)
                    ui['index'] = w.IntSlider(value=self.index, min=0, max=self.num_images() - 1,
                                              description='Image', continuous_update=False)
                    ui['index'].observe(on_change('index'), names='value')
                    ui['top'].children = tuple(ui['index'] if c is old else c for c in ui['top'].children)
                    old.close()
                self.refresh(image=name in ('split', 'index'))
            return handler

        for name in ('split', 'index', 'strategy', 'temperature', 'beam_width'):
            ui[name].observe(on_change(name), names='value')

        def on_random(_):
            before = self.index
            ui['index'].value = self.random_image()  # triggers refresh through the slider ...
            if self.index == before:                 # ... unless the draw is where it was
                self.refresh(image=False)
        ui['random'].on_click(on_random)

        def on_resample(_):
            self.seed += 1
            self.refresh(image=False)
        ui['resample'].on_click(on_resample)
        ui['recaption'].on_click(lambda _: self.refresh(image=False))   # the model may have changed
        self.refresh()
        return ui['root']

    def refresh(self, image=True):
        """Update the caption panel from the current settings, and the image
        too unless image=False. Returns the panel's HTML."""
        ui = self._ui
        if ui is None:
            return self.render()
        ui['random'].disabled = self.num_images() < 2
        ui['temperature'].disabled = self.strategy != 'temperature'
        ui['resample'].disabled = self.strategy != 'temperature'
        ui['beam_width'].disabled = self.strategy != 'beam'
        if image:
            try:
                if (self.split, self.index) not in self._images:
                    ui['note'].value = '<small>loading image %d of %s ...</small>' % (self.index, self.split)
                png, note = self.image_png()
                ui['image'].value = png
                src = str(self.data['%s_urls' % self.split][self.index])
                link = '<br>source: <a href="%s" target="_blank">%s</a>' % (html.escape(src), html.escape(src))
                ui['note'].value = ('<small>%s image %d%s</small>'
                                    % (self.split, self.index, '<br>' + html.escape(note) if note else
                                       (link if '://' in src else '')))
            except Exception as e:
                ui['note'].value = '<span style="color:#b00">Image error: %s</span>' % html.escape(str(e))
        ui['panel'].value = self.render()
        return ui['panel'].value

    def show(self):
        """Display the explorer in the notebook."""
        from IPython.display import display
        display(self.widget())
