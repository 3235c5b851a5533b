"""An image captioning model: CNN features in, words out, through an RNN or LSTM."""
import numpy as np

from ..rnn_layers import *  # every layer, as in the official file


def _word_ids(fn, captions, shape):
    """captions, checked: an integer array of the given shape (word ids)."""
    if not isinstance(captions, np.ndarray) or captions.shape != shape:
        got = captions.shape if isinstance(captions, np.ndarray) else type(captions).__name__
        raise ValueError('CaptioningRNN.%s: captions must be an array of shape (N, max_length) = %s; got %s'
                         % (fn, shape, got))
    if not np.issubdtype(captions.dtype, np.integer):
        raise ValueError('CaptioningRNN.%s: captions must hold integer word ids; got dtype %s (keep the '
                         'int32 array made before the loop, or make yours with dtype=np.int32)'
                         % (fn, captions.dtype))
    return captions


class CaptioningRNN:
    """Generates captions from image features with a recurrent network.

    The image feature vector (size D) is projected to the initial hidden state
    (size H). At every step the network reads a word vector (size W) and
    produces scores over the vocabulary (size V). Sequences have length T; the
    model works on minibatches of size N.

    There is no regularisation.
    """

    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128,
                 hidden_dim=128, cell_type='rnn', dtype=np.float32):
        """
        Inputs:
        - word_to_idx: Dict of the vocabulary, V entries, mapping each word to
          an integer in [0, V)
        - input_dim: Dimension D of the input image feature vectors
        - wordvec_dim: Dimension W of the word vectors
        - hidden_dim: Dimension H of the hidden state of the RNN
        - cell_type: 'rnn' or 'lstm'
        - dtype: numpy dtype of the parameters: float32 to train, float64 for
          numerical gradient checks
        """
        if cell_type not in {'rnn', 'lstm'}:
            raise ValueError("cell_type must be 'rnn' or 'lstm', got %r" % (cell_type,))
        if not isinstance(word_to_idx, dict) or '<NULL>' not in word_to_idx:
            raise ValueError("word_to_idx must be a dict from words to ids that contains '<NULL>' "
                             "(data['word_to_idx'] of load_coco_data); got %s" % type(word_to_idx).__name__)
        for name, n in (('input_dim', input_dim), ('wordvec_dim', wordvec_dim), ('hidden_dim', hidden_dim)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
                raise ValueError('%s must be an integer >= 1; got %r' % (name, n))
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise ValueError('dtype must be a floating type (np.float32 to train, np.float64 for '
                             'gradient checks); got %r' % (dtype,))
        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self.params = {}

        vocab_size = len(word_to_idx)
        self._null = word_to_idx['<NULL>']
        self._start = word_to_idx.get('<START>', None)
        self._end = word_to_idx.get('<END>', None)

        # Word vectors
        self.params['W_embed'] = np.random.randn(vocab_size, wordvec_dim) / 100
        # CNN features -> initial hidden state
        self.params['W_proj'] = np.random.randn(input_dim, hidden_dim) / np.sqrt(input_dim)
        self.params['b_proj'] = np.zeros(hidden_dim)
        # The recurrent cell: an LSTM has four gates, hence four times the columns
        dim_mul = {'lstm': 4, 'rnn': 1}[cell_type]
        self.params['Wx'] = np.random.randn(wordvec_dim, dim_mul * hidden_dim) / np.sqrt(wordvec_dim)
        self.params['Wh'] = np.random.randn(hidden_dim, dim_mul * hidden_dim) / np.sqrt(hidden_dim)
        self.params['b'] = np.zeros(dim_mul * hidden_dim)
        # Hidden state -> vocabulary scores
        self.params['W_vocab'] = np.random.randn(hidden_dim, vocab_size) / np.sqrt(hidden_dim)
        self.params['b_vocab'] = np.zeros(vocab_size)

        for k, v in self.params.items():
            self.params[k] = v.astype(self.dtype)

    # ------------------------------------------------------------------
    def _check_features(self, features):
        D = self.params['W_proj'].shape[0]
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != D:
            raise ValueError(
                'features must have shape (N, %d) to match input_dim=%d; got shape %s. '
                'Build the model with input_dim=features.shape[1] (e.g. '
                "data['train_features'].shape[1])." % (D, D, features.shape))
        features = features.astype(self.dtype, copy=False)
        if not np.isfinite(features).all():
            bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
            raise ValueError('features hold NaN or infinite values (in %d row(s), the first row %d): every '
                             'caption would be meaningless; check how the features were loaded or computed'
                             % (bad.size, bad[0]))
        return features

    def _check_captions(self, captions, N):
        captions = np.asarray(captions)
        V = self.params['W_embed'].shape[0]
        if captions.ndim != 2 or captions.shape[0] != N or captions.shape[1] < 2 or N == 0:
            raise ValueError(
                'captions must have shape (N, T) with N=%d (one caption per feature row, N >= 1) '
                'and T >= 2; got shape %s' % (N, captions.shape))
        if not np.issubdtype(captions.dtype, np.integer):
            raise ValueError('captions must hold integer word ids; got dtype %s' % captions.dtype)
        if captions.size and (captions.min() < 0 or captions.max() >= V):
            raise ValueError(
                'captions hold word ids in [%d, %d], outside the vocabulary range [0, %d): '
                'were they encoded with the same word_to_idx as the model?'
                % (captions.min(), captions.max(), V))
        return captions

    @classmethod
    def from_checkpoint(cls, path):
        """The model saved in a CaptioningSolver checkpoint (checkpoint_path),
        rebuilt with its vocabulary, cell type, sizes and parameters (only
        load files you wrote: a checkpoint is a pickle)."""
        from ..captioning_solver import read_checkpoint
        state = read_checkpoint(path)
        if 'model' not in state:
            raise ValueError('checkpoint %s holds no description of its model (an older version wrote '
                             'it): build the model as before and call CaptioningSolver.load_checkpoint'
                             % path)
        info, params = state['model'], state['params']
        seed = np.random.get_state()     # the new model's random start is thrown away: leave
        try:                             # the global random state as it was
            model = cls(info['word_to_idx'], input_dim=params['W_proj'].shape[0],
                        wordvec_dim=params['W_embed'].shape[1], hidden_dim=params['Wh'].shape[0],
                        cell_type=info['cell_type'], dtype=np.dtype(info['dtype']).type)
        finally:
            np.random.set_state(seed)
        if set(params) != set(model.params):
            raise ValueError('%s holds parameters %s, not those of a CaptioningRNN (%s)'
                             % (path, sorted(params), sorted(model.params)))
        for k, v in params.items():
            if v.shape != model.params[k].shape:
                raise ValueError('%s: parameter %s has shape %s, expected %s' % (path, k, v.shape, model.params[k].shape))
            model.params[k] = v.astype(model.dtype)
        return model

    def loss(self, features, captions):
        """Training-time loss and gradients.

        The captions are fed in shifted by one: the network reads
        captions[:, :-1] (starting with <START>) and must predict
        captions[:, 1:]; positions whose target is <NULL> are masked out.

        Inputs:
        - features: Input image features, of shape (N, D)
        - captions: Ground-truth captions, an integer array of shape (N, T),
          each element in [0, V)

        Returns a tuple of:
        - loss: Scalar loss
        - grads: Dict of gradients, with the same keys as self.params
        """
        features = self._check_features(features)
        captions = self._check_captions(captions, features.shape[0])
        captions_in = captions[:, :-1]          # (N, T - 1): what the network reads
        captions_out = captions[:, 1:]          # (N, T - 1): what it must predict
        mask = captions_out != self._null       # (N, T - 1)

        W_proj, b_proj = self.params['W_proj'], self.params['b_proj']
        W_embed = self.params['W_embed']
        Wx, Wh, b = self.params['Wx'], self.params['Wh'], self.params['b']
        W_vocab, b_vocab = self.params['W_vocab'], self.params['b_vocab']

        loss, grads = 0.0, {}
        ### BEGIN SOLUTION
        N, T = mask.shape
        # Longest captions first. The loss and the gradients are sums over the
        # minibatch, so the order changes nothing; but then the captions still
        # running at step t are the first width[t] rows, and the cells skip the
        # others: a hidden state after a caption's last scored word reaches no
        # loss, and its gradient is zero.
        last = np.where(mask.any(axis=1), T - np.argmax(mask[:, ::-1], axis=1), 0)  # (N,)
        order = np.argsort(-last, kind='stable')
        features, captions_in = features[order], captions_in[order]
        captions_out, mask = captions_out[order], mask[order]
        width = (last[order][:, None] > np.arange(T)).sum(axis=0)   # (T,), never increasing
        # From the word vectors to the scores and back, the model works on the
        # rows the cells compute, step after step: (step t, sample n) for
        # n < width[t], M rows in all ("rows layout", see rnn_fast.py).
        running = np.arange(N) < width[:, None]               # (T, N)
        h0 = features @ W_proj + b_proj                        # (N, H)
        # The cells as rnn_forward / lstm_forward compute them in the reference
        # solution (rnn_fast.py), in that layout, with the word embedding and
        # the input projection x Wx + b done together, once per distinct word.
        # (The plain layer-by-layer loss a student writes, with the same
        # results: captioning_loss in grading/plain_reference.py.)
        from .. import rnn_fast as fast
        lstm = self.cell_type == 'lstm'
        proj, proj_cache = fast._word_projection(captions_in.T[running], W_embed, Wx, b,
                                                 gates=4 if lstm else 1)
        if lstm:
            hr, cr, tcr, c0 = fast._lstm_recurrence(proj, h0, Wh, width)     # (M, H) each
        else:
            hr = fast._rnn_recurrence(proj, h0, Wh, width)                   # (M, H)
        # Only unmasked positions add to the loss, so only they need scores. A
        # running row is unmasked unless its target is a <NULL> inside a caption.
        scored = mask.T[running]                               # (M,)
        holes = not scored.all()
        h_scored = (hr[scored] if holes else hr)[None]        # (1, S, H)
        scores, affine_cache = temporal_affine_forward(h_scored, W_vocab, b_vocab)  # (1, S, V)
        # temporal_softmax_loss with every row counting and the average over
        # the minibatch folded in, computed in place: scores become dscores
        loss, dscores = fast._softmax_loss_rows(scores[0], captions_out.T[running][scored], 1 / N)
        dscores = dscores[None]                                # (1, S, V)
        # Large arrays are dropped (del) as soon as they are used up: the arrays
        # made next then reuse their memory instead of fresh pages.
        del scores

        dh_scored, grads['W_vocab'], grads['b_vocab'] = temporal_affine_backward(dscores, affine_cache)
        del dscores, affine_cache, h_scored
        if holes:
            dhr = np.zeros_like(hr)
            dhr[scored] = dh_scored[0]
        else:
            dhr = dh_scored[0]                                 # (M, H)
        del dh_scored
        if lstm:
            dA, dh0 = fast._lstm_recurrence_backward(dhr, h0, c0, Wh, hr, cr, tcr, proj, width)
            del cr, tcr, proj
        else:
            dA, dh0 = fast._rnn_recurrence_backward(dhr, h0, Wh, hr, width)   # (M, H), in dhr
        del dhr
        grads['Wh'] = fast._prev_h_rows(h0, hr, width).T @ dA
        del hr
        grads['W_embed'], grads['Wx'], grads['b'] = fast._word_projection_backward(dA, proj_cache)
        grads['W_proj'] = features.T @ dh0
        grads['b_proj'] = dh0.sum(axis=0)
        ### END SOLUTION
        return loss, grads

    def sample(self, features, max_length=30, temperature=None, beam_width=None,
               rng=None, return_probs=False):
        """Test-time sampling. By default greedy: start every caption with
        <START>, then at each step feed in the most likely word of the previous
        step.

        Inputs:
        - features: Input image features, of shape (N, D)
        - max_length: Maximum length T of a generated caption
        - temperature: If given (> 0), draw each word at random from the
          softmax of scores / temperature instead (low: close to greedy;
          high: more varied)
        - beam_width: If given, beam search keeping this many partial captions
          per image and returning the one of highest total log-probability
          among those it kept (beam_width=1 is greedy; wider is not always more
          likely than greedy, and there is no length correction)
        - rng: Seed or np.random.Generator for temperature sampling (None: drawn
          from np.random, so np.random.seed makes it repeatable)
        - return_probs: Also return the probability the model gives each
          chosen word

        Returns:
        - captions: Integer array of shape (N, max_length) of word ids; column 0
          holds the first generated word. After a caption's <END>, the rest of
          its row is <NULL>.
        - probs: (only with return_probs) Array of shape (N, max_length): the
          model's probability of each word of captions given the words before
          it (0 where the caption is over)
        """
        features = self._check_features(features)
        if self._start is None:
            raise ValueError("sampling needs '<START>' in word_to_idx")
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 0:
            raise ValueError('max_length must be an integer >= 0 (the longest caption to generate); '
                             'got %r' % (max_length,))
        if temperature is not None or beam_width is not None or return_probs:
            return self._sample_options(features, max_length, temperature, beam_width, rng, return_probs)
        N = features.shape[0]
        captions = np.full((N, max_length), self._null, dtype=np.int32)

        W_proj, b_proj = self.params['W_proj'], self.params['b_proj']
        W_embed = self.params['W_embed']
        Wx, Wh, b = self.params['Wx'], self.params['Wh'], self.params['b']
        W_vocab, b_vocab = self.params['W_vocab'], self.params['b_vocab']

        ### BEGIN SOLUTION
        h = features @ W_proj + b_proj                 # (N, H)
        c = np.zeros_like(h)
        word = np.full(N, self._start)                 # (N,)
        done = np.zeros(N, dtype=bool)
        for t in range(max_length):
            x = W_embed[word]                          # (N, W)
            if self.cell_type == 'rnn':
                h, _ = rnn_step_forward(x, h, Wx, Wh, b)
            else:
                h, c, _ = lstm_step_forward(x, h, c, Wx, Wh, b)
            scores = h @ W_vocab + b_vocab             # (N, V)
            word = scores.argmax(axis=1)
            word[done] = self._null                    # finished captions stay <NULL>
            captions[:, t] = word
            if self._end is not None:
                done |= word == self._end
            if done.all():
                break
        ### END SOLUTION
        return _word_ids('sample', captions, (N, max_length))

    # ------------------------------------------------------------------
    # Beyond greedy: probabilities, temperature sampling, beam search

    def _sample_options(self, features, max_length, temperature, beam_width, rng, return_probs):
        if temperature is not None and beam_width is not None:
            raise ValueError('give temperature or beam_width, not both')
        if beam_width is not None:
            if not isinstance(beam_width, (int, float, np.number)) or int(beam_width) != beam_width \
                    or beam_width < 1:
                raise ValueError('beam_width must be a whole number >= 1, got %r' % (beam_width,))
            captions = self._beam_search(features, max_length, int(beam_width))
        elif temperature is not None:
            if not isinstance(temperature, (int, float, np.number)) or not temperature > 0:
                raise ValueError('temperature must be > 0 (for the most likely words use the '
                                 'default greedy sampling), got %r' % (temperature,))
            captions = self._sample_temperature(features, max_length, temperature, rng)
        else:
            captions = self.sample(features, max_length)
        if return_probs:
            return captions, self.word_probs(features, captions)
        return captions

    def _step_log_probs(self, word, h, c):
        """Feed words (M,) with states (M, H); return the new states and the
        log-probabilities of the next word, (M, V)."""
        p = self.params
        x = p['W_embed'][word]
        if self.cell_type == 'rnn':
            h, _ = rnn_step_forward(x, h, p['Wx'], p['Wh'], p['b'])
        else:
            h, c, _ = lstm_step_forward(x, h, c, p['Wx'], p['Wh'], p['b'])
        scores = h @ p['W_vocab'] + p['b_vocab']
        scores = scores - scores.max(axis=1, keepdims=True)
        return h, c, scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))

    def _initial_state(self, features):
        h = features @ self.params['W_proj'] + self.params['b_proj']   # (N, H)
        return h, np.zeros_like(h)

    def word_probs(self, features, captions):
        """The model's probability of each word of captions (N, T) given the
        image and the words before it, as an (N, T) array; 0 after <END>."""
        features = self._check_features(features)
        captions = np.asarray(captions)
        N, T = captions.shape
        h, c = self._initial_state(features)
        word = np.full(N, self._start)
        probs = np.zeros((N, T))
        live = np.ones(N, dtype=bool)
        for t in range(T):
            h, c, logp = self._step_log_probs(word, h, c)
            word = captions[:, t]
            probs[:, t] = np.where(live, np.exp(logp[np.arange(N), word]), 0.0)
            if self._end is not None:
                live &= word != self._end
            if not live.any():          # every caption is over: the rest stays 0
                break
        return probs

    def _sample_temperature(self, features, max_length, temperature, rng):
        if rng is None:     # np.random.seed(...) makes it repeatable, as elsewhere in the assignment
            rng = np.random.default_rng(np.random.randint(2 ** 31))
        elif not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(rng)
        N = features.shape[0]
        captions = np.full((N, max_length), self._null, dtype=np.int32)
        h, c = self._initial_state(features)
        word = np.full(N, self._start)
        done = np.zeros(N, dtype=bool)
        for t in range(max_length):
            h, c, logp = self._step_log_probs(word, h, c)
            z = logp / temperature                                     # (N, V)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            cdf = np.cumsum(p, axis=1)
            u = rng.random(N)[:, None] * cdf[:, -1:]
            word = np.minimum((cdf < u).sum(axis=1), p.shape[1] - 1)   # inverse-CDF draw
            word[done] = self._null
            captions[:, t] = word
            if self._end is not None:
                done |= word == self._end
            if done.all():
                break
        return captions

    def _beam_search(self, features, max_length, K):
        """Keep the K partial captions of highest total log-probability per
        image; a finished caption (<END>) stays in the beam unchanged."""
        N = features.shape[0]
        h, c = self._initial_state(features)
        h = np.repeat(h, K, axis=0)                                    # (N*K, H)
        c = np.repeat(c, K, axis=0)
        score = np.full((N, K), -np.inf)
        score[:, 0] = 0.0                          # all beams start equal: expand only one
        tokens = np.full((N, K, max_length), self._null, dtype=np.int32)
        done = np.zeros((N, K), dtype=bool)
        word = np.full(N * K, self._start)
        rows = np.arange(N)[:, None]
        for t in range(max_length):
            h, c, logp = self._step_log_probs(word, h, c)
            V = logp.shape[1]
            cand = score[:, :, None] + logp.reshape(N, K, V)           # (N, K, V)
            # a finished caption can only continue with <NULL>, at no cost
            cand[done] = -np.inf
            cand[done, self._null] = score[done]
            flat = cand.reshape(N, K * V)
            best = np.argsort(-flat, axis=1, kind='stable')[:, :K]    # (N, K)
            parent, word2 = best // V, best % V
            score = np.take_along_axis(flat, best, axis=1)
            tokens = tokens[rows, parent]
            tokens[:, :, t] = word2
            done = done[rows, parent] | (word2 == self._end if self._end is not None else False)
            pick = (rows * K + parent).ravel()
            h, c = h[pick], c[pick]
            word = word2.ravel()
            if done.all():
                break
        best_beam = np.argmax(score, axis=1)
        return tokens[np.arange(N), best_beam]
