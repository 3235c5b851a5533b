"""The project's own offline captioning set, in the official `coco_captioning` layout.

Scenes of 1-3 coloured shapes are drawn by numpy, described by about five captions from a
small grammar, and encoded by EfficientNet-Lite0 (cs231n.efficientnet) on the scene
upscaled to 224 px. The 1280-d features are reduced to 512 by a PCA fitted on the train split.

    python -m cs231n.offline_data [OUT_DIR] [--seed 0] [--small] [--force]
    build(out_dir, num_train=4000, num_val=500, seed=0) -> Path
    ensure_built() -> Path   # builds datasets/offline_captioning only when missing/incomplete
"""
import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from . import efficientnet

FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / "datasets" / "offline_captioning"
NUM_TRAIN, NUM_VAL, SMALL = 4000, 500, (40, 12)
IMG, MAX_WORDS, SEQ_LEN, PCA_DIM = 96, 15, 17, 512
SPECIALS = ["<NULL>", "<START>", "<END>", "<UNK>"]
SPLITS = ("train", "val")

# ----------------------------------------------------------------------------- the world

COLOURS = {"red": (215, 35, 35), "green": (35, 160, 55), "blue": (40, 70, 215),
           "yellow": (240, 210, 30), "purple": (135, 50, 175), "orange": (245, 130, 25),
           "white": (248, 248, 248), "black": (18, 18, 18)}
BACKGROUNDS = ("white", "black", "gray", "checkered", "striped")
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
RADIUS = {"small": (7, 10), "large": (14, 20)}  # pixels, in a 96 px image

# ----------------------------------------------------------------------------- the grammar

COLOUR_WORDS = {c: [c] for c in COLOURS} | {"purple": ["purple", "violet"]}
BG_WORDS = {"white": ["white"], "black": ["black"], "gray": ["gray", "grey"],
            "checkered": ["checkered", "checkerboard"], "striped": ["striped"]}
NOUNS = {"circle": ["circle", "disk", "dot"], "square": ["square", "box"],
         "triangle": ["triangle"], "star": ["star"], "diamond": ["diamond", "rhombus"],
         "cross": ["cross", "plus sign"]}
SIZE_WORDS = {"small": ["small", "little", "tiny"], "large": ["large", "big"]}
NUMBERS = {2: "two", 3: "three"}
RELATIONS = {"left": ["to the left of", "left of"], "right": ["to the right of", "right of"],
             "above": ["above", "over"], "below": ["below", "under", "beneath"],
             "beside": ["next to", "beside"]}
INTROS = ["", "", "", "there is", "an image of", "a picture of", "a drawing of",
          "this image shows", "we can see", "i see"]
BG_PHRASES = ["on a {} background", "against a {} background", "in front of a {} background",
              "on a {} backdrop"]
GLUE = "a an one and with on the left right background in there are"


def plural(noun):
    return noun + ("es" if noun.endswith(("s", "x")) else "s")


def tokenize(text):
    return re.findall(r"[a-z]+", text.lower())


def grammar_words():
    """Every word the grammar can produce, sorted."""
    parts = [GLUE, *INTROS, *BG_PHRASES, *NUMBERS.values()]
    for table in (COLOUR_WORDS, BG_WORDS, SIZE_WORDS, RELATIONS):
        parts += [w for ws in table.values() for w in ws]
    parts += [f"{n} {plural(n)}" for ns in NOUNS.values() for n in ns]
    return sorted({w for p in parts for w in tokenize(p)})


def make_vocab():
    idx_to_word = SPECIALS + grammar_words()
    return {"idx_to_word": idx_to_word, "word_to_idx": {w: i for i, w in enumerate(idx_to_word)}}


def relation(a, b):
    """Where object a is relative to b ('left', 'right', 'above', 'below') or None if unclear."""
    dx, dy = a["x"] - b["x"], a["y"] - b["y"]
    if abs(dx) > 1.5 * abs(dy):
        return "left" if dx < 0 else "right"
    if abs(dy) > 1.5 * abs(dx):
        return "above" if dy < 0 else "below"
    return None


def _noun_phrase(group, rng):
    (shape, colour), objs = group
    pick = lambda ws: ws[rng.integers(len(ws))]  # noqa: E731
    noun = pick(NOUNS[shape]) if len(objs) == 1 else plural(pick(NOUNS[shape]))
    sizes = {o["size"] for o in objs}
    size = [pick(SIZE_WORDS[sizes.pop()])] if len(sizes) == 1 and rng.random() < 0.5 else []
    col = pick(COLOUR_WORDS[colour]) if rng.random() < 0.93 else None
    if col and rng.random() < 0.12:
        words = size + [noun, "in", col]  # "a big circle in red"
    else:
        words = size + ([col] if col else []) + [noun]
    det = NUMBERS[len(objs)] if len(objs) > 1 else pick(["a", "a", "a", "one"])
    if det == "a" and words[0][0] in "aeiou":
        det = "an"
    return " ".join([det] + words)


def _caption(scene, rng):
    pick = lambda ws: ws[rng.integers(len(ws))]  # noqa: E731
    groups = {}
    for o in scene["objects"]:
        groups.setdefault((o["shape"], o["colour"]), []).append(o)
    groups = [list(groups.items())[i] for i in rng.permutation(len(groups))]
    nps = [_noun_phrase(g, rng) for g in groups]
    single = [len(objs) == 1 for _, objs in groups]
    rel = relation(groups[0][1][0], groups[1][1][0]) if len(groups) > 1 and all(single[:2]) else None
    if rel and rng.random() < 0.6:
        if rel in ("left", "right") and rng.random() < 0.3:
            rel = "beside"
        body = f"{nps[0]} {pick(RELATIONS[rel])} {nps[1]}"
        body += f" and {nps[2]}" if len(nps) == 3 else ""
    elif rel in ("left", "right") and len(nps) == 2 and rng.random() < 0.4:
        left, right = (nps[0], nps[1]) if rel == "left" else (nps[1], nps[0])
        body = f"{left} on the left and {right} on the right"
    elif len(nps) == 2 and rng.random() < 0.2:
        body = f"{nps[0]} with {nps[1]}"
    else:
        body = ", ".join(nps[:-1]) + " and " + nps[-1] if len(nps) > 1 else nps[0]
    intro = pick(INTROS)
    if intro == "there is" and len(groups[0][1]) > 1:
        intro = "there are"
    bg = pick(BG_WORDS[scene["background"]])
    r = rng.random()
    if r < 0.12 and " with " not in body:
        text = f"a {bg} background with {body}"
    elif r < 0.55:
        text = f"{intro} {body} {pick(BG_PHRASES).format(bg)}"
    else:
        text = f"{intro} {body}"
    return " ".join(text.split())


def captions_for(scene, rng, n=5):
    """n distinct captions (when the grammar allows), each at most MAX_WORDS words."""
    out = []
    for _ in range(40 * n):
        c = _caption(scene, rng)
        if len(tokenize(c)) <= MAX_WORDS and c not in out:
            out.append(c)
            if len(out) == n:
                break
    while len(out) < n:  # a fallback that always fits: at most 3 x 3 words + 2
        out.append(" and ".join(f"{'an' if o['colour'] == 'orange' else 'a'} {o['colour']} {o['shape']}"
                                for o in scene["objects"]))
    return out

# ----------------------------------------------------------------------------- the pictures


def make_scene(rng):
    """A random scene: background name and 1-3 non-overlapping objects."""
    bg = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    colours = [c for c in COLOURS if c != bg]
    n = rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25])
    objs = []
    for k in range(n):
        if k > 0 and rng.random() < 0.3:  # a twin of the first object: "two red circles"
            shape, colour = objs[0]["shape"], objs[0]["colour"]
        else:
            shape, colour = SHAPES[rng.integers(len(SHAPES))], colours[rng.integers(len(colours))]
        size = ("small", "large")[rng.integers(2)]
        r = int(rng.integers(*RADIUS[size], endpoint=True))
        for _ in range(200):
            x, y = rng.integers(r + 2, IMG - r - 2, size=2)
            if all(np.hypot(x - o["x"], y - o["y"]) > r + o["r"] + 4 for o in objs):
                objs.append(dict(shape=shape, colour=colour, size=size, x=int(x), y=int(y), r=r))
                break
    return {"background": bg, "objects": objs}


def _convex_sdf(px, py, verts):
    """Approximate signed distance to a convex polygon (negative inside); verts (V, 2)."""
    c = verts.mean(0)
    d = np.full(px.shape, -np.inf)
    for a, b in zip(verts, np.roll(verts, -1, axis=0)):
        n = np.array([b[1] - a[1], a[0] - b[0]]) / np.hypot(*(b - a))  # edge normal
        n = n if np.dot(c - a, n) < 0 else -n  # pointing outwards
        d = np.maximum(d, (px - a[0]) * n[0] + (py - a[1]) * n[1])
    return d


def _sdf(o, px, py):
    x, y, r = o["x"], o["y"], o["r"]
    dx, dy = px - x, py - y
    if o["shape"] == "circle":
        return np.hypot(dx, dy) - r
    if o["shape"] == "square":
        return np.maximum(abs(dx), abs(dy)) - 0.85 * r
    if o["shape"] == "diamond":
        return (abs(dx) + abs(dy) - 1.15 * r) / np.sqrt(2)
    if o["shape"] == "cross":
        t = 0.35 * r
        return np.minimum(np.maximum(abs(dx) - r, abs(dy) - t), np.maximum(abs(dx) - t, abs(dy) - r))
    up = -np.pi / 2  # screen y points down
    if o["shape"] == "triangle":
        a = up + np.arange(3) * 2 * np.pi / 3
        return _convex_sdf(px, py, np.stack([x + 1.2 * r * np.cos(a), y + 0.2 * r + 1.2 * r * np.sin(a)], 1))
    # star: fold the angle onto one half-spike, then the distance to its edge line
    beta = np.pi / 5 - np.abs((np.arctan2(dy, dx) - up) % (2 * np.pi / 5) - np.pi / 5)  # 0 at a tip
    rho = np.hypot(dx, dy)
    tip, inner = np.array([1.25 * r, 0.0]), 0.48 * r * np.array([np.cos(np.pi / 5), np.sin(np.pi / 5)])
    n = np.array([inner[1] - tip[1], tip[0] - inner[0]]) / np.hypot(*(inner - tip))  # outward normal
    return (rho * np.cos(beta) - tip[0]) * n[0] + (rho * np.sin(beta) - tip[1]) * n[1]


def render(scene, rng):
    """uint8 RGB (IMG, IMG, 3) picture of a scene, anti-aliased over one pixel."""
    py, px = np.mgrid[0:IMG, 0:IMG] + 0.5  # pixel centres, (IMG, IMG) each
    bg = scene["background"]
    if bg in ("checkered", "striped"):
        cell = int(rng.integers(8, 17))
        light, dark = 205 + rng.integers(-10, 11), 150 + rng.integers(-10, 11)
        stripes = px if rng.random() < 0.5 else py  # vertical or horizontal
        on = (px // cell + py // cell) % 2 if bg == "checkered" else (stripes // cell) % 2
        img = np.where(on[..., None] > 0, light, dark) * np.ones(3)
    else:
        base = {"white": 245, "black": 15, "gray": 128}[bg]
        img = np.full((IMG, IMG, 3), base + rng.integers(-8, 9), float)
    for o in scene["objects"]:
        R = int(1.5 * o["r"]) + 2  # every shape lies within this box
        box = np.s_[max(o["y"] - R, 0):o["y"] + R, max(o["x"] - R, 0):o["x"] + R]
        alpha = np.clip(0.5 - _sdf(o, px[box], py[box]), 0.0, 1.0)[..., None]  # (h, w, 1)
        colour = np.clip(np.array(COLOURS[o["colour"]]) + rng.integers(-15, 16, 3), 0, 255)
        img[box] = img[box] * (1 - alpha) + colour * alpha
    return np.round(img).astype(np.uint8)


def make_example(split, i, seed):
    """Scene (with captions and image path) and uint8 image of example i of a split."""
    rng = np.random.default_rng([seed, SPLITS.index(split), i])  # independent of other images
    scene = make_scene(rng)
    image = render(scene, rng)
    scene["captions"] = captions_for(scene, rng)
    scene["image"] = f"images/{split}/{i:06d}.png"
    return scene, image


# ----------------------------------------------------------------------------- the files


def encode(caption, word_to_idx):
    """Caption text -> int32 (SEQ_LEN,) ids: <START> words <END> <NULL>..."""
    words = tokenize(caption)
    assert len(words) <= MAX_WORDS, caption
    ids = [1] + [word_to_idx.get(w, 3) for w in words] + [2]
    return np.array(ids + [0] * (SEQ_LEN - len(ids)), np.int32)


def fit_pca(x, dim=PCA_DIM):
    """Mean (D,) and components (k, D), k = min(dim, N, D), of x (N, D) via SVD.

    Each component's largest-magnitude entry is made positive, so the result is unique."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)  # (min(N, D), D)
    comps = vt[:dim]
    comps *= np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])[:, None]
    return mean, comps


def pca_project(x, mean, comps, dim=PCA_DIM):
    """(N, D) -> float32 (N, dim); columns past the number of components are zero."""
    out = np.zeros((len(x), dim), np.float32)
    out[:, :len(comps)] = (np.asarray(x, np.float64) - mean) @ comps.T
    return out


def layout_files():
    files = ["coco2014_captions.h5", "coco2014_vocab.json", "scenes.json", "captions_raw.json"]
    for s in SPLITS:
        files += [f"{s}2014_vgg16_fc7.h5", f"{s}2014_vgg16_fc7_pca.h5", f"{s}2014_urls.txt",
                  f"{s}2014_images.txt"]
    return files + ["BUILD_INFO.json"]


def _write_h5(path, **arrays):
    import h5py
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)


def _write(tmp, num_train, num_val, seed, workers, log, batch=efficientnet.BATCH_SIZE):
    import contextlib
    from PIL import Image
    t0 = time.time()
    vocab = make_vocab()
    scenes = {s: [] for s in SPLITS}
    todo = [(s, i) for s, n in zip(SPLITS, (num_train, num_val)) for i in range(n)]
    for s in SPLITS:
        (tmp / "images" / s).mkdir(parents=True)

    def batches():  # runs ahead of the feature workers (in a feeder thread when workers > 1)
        for k in range(0, len(todo), batch):
            images = []
            for split, i in todo[k:k + batch]:
                scene, image = make_example(split, i, seed)
                Image.fromarray(image).save(tmp / scene["image"])
                scenes[split].append(scene)
                images.append(image)
            yield np.stack(images)  # (batch, IMG, IMG, 3)

    feats, done, shown = [], 0, 0
    with contextlib.closing(efficientnet.iter_features(batches(), workers)) as it:
        for f in it:
            feats.append(f)
            done += len(f)
            if done - shown >= len(todo) / 10 or done == len(todo):
                shown = done
                log(f"rendered {sum(map(len, scenes.values()))}, encoded {done}/{len(todo)} "
                    f"images ({time.time() - t0:.1f} s)")
    feats = np.concatenate(feats)  # (N, 1280)
    feats = {"train": feats[:num_train], "val": feats[num_train:]}
    mean, comps = fit_pca(feats["train"])  # on the train split only
    caps, w2i = {}, vocab["word_to_idx"]
    for split in SPLITS:
        sc = scenes[split]
        _write_h5(tmp / f"{split}2014_vgg16_fc7.h5", features=feats[split])
        _write_h5(tmp / f"{split}2014_vgg16_fc7_pca.h5", features=pca_project(feats[split], mean, comps))
        caps[f"{split}_captions"] = np.stack([encode(c, w2i) for s in sc for c in s["captions"]])
        caps[f"{split}_image_idxs"] = np.array([i for i, s in enumerate(sc) for _ in s["captions"]],
                                               np.int32)
        for name in ("urls", "images"):
            (tmp / f"{split}2014_{name}.txt").write_text("".join(s["image"] + "\n" for s in sc))
    if any(np.any(caps[f"{s}_captions"] == 3) for s in SPLITS):
        raise RuntimeError("a caption word is missing from the vocabulary (<UNK>)")
    _write_h5(tmp / "coco2014_captions.h5", **caps)
    (tmp / "coco2014_vocab.json").write_text(json.dumps(vocab))
    (tmp / "scenes.json").write_text(json.dumps(scenes))
    (tmp / "captions_raw.json").write_text(json.dumps(
        {s: [{"image": x["image"], "captions": x["captions"]} for x in scenes[s]] for s in SPLITS}))
    info = _build_params(num_train, num_val, seed) | {
        "train_captions": len(caps["train_captions"]), "val_captions": len(caps["val_captions"]),
        "vocab_size": len(vocab["idx_to_word"]), "feature_dim": int(feats["train"].shape[1]),
        "pca_dim": PCA_DIM, "numpy": np.__version__, "seconds": round(time.time() - t0, 1)}
    (tmp / "BUILD_INFO.json").write_text(json.dumps(info, indent=1))  # last: marks completion
    return info


def _build_params(num_train, num_val, seed):
    return {"format_version": FORMAT_VERSION, "seed": seed, "num_train": num_train,
            "num_val": num_val, "weights": efficientnet.PIP_PACKAGE + "==0.1.0"}


class NotOurFolderError(ValueError):
    """out_dir holds files that are not an offline set's: a build would replace them."""


def foreign_entries(out_dir):
    """What in out_dir is not part of an offline set (sorted names): a build
    replaces the folder whole, so it must be empty or hold only a set."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return [out_dir.name] if out_dir.exists() else []
    ours = set(layout_files()) | {"images"}
    return sorted(e.name for e in out_dir.iterdir() if e.name not in ours)


def build(out_dir=DEFAULT_DIR, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, workers=None,
          verbose=True):
    """Build the set into out_dir (replacing it only once the new one is complete) -> Path.
    Refuses (NotOurFolderError) an out_dir that holds anything else."""
    out_dir = Path(out_dir).resolve()
    foreign = foreign_entries(out_dir)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        what = "is a file" if out_dir.exists() and not out_dir.is_dir() else f"holds {shown}"
        raise NotOurFolderError(
            f"{out_dir} {what}, which is not part of an offline set: a build replaces its folder "
            f"whole, so nothing was touched. Give a new or empty folder (such as "
            f"{out_dir / 'offline_captioning'}), or move those files away first.")
    log = (lambda msg: print(f"offline_data: {msg}", flush=True)) if verbose else (lambda msg: None)
    efficientnet.find_weights()  # fail before any work when the weights are not installed
    if workers is None:
        workers = 1 if num_train + num_val < 300 else min(os.cpu_count() or 1, 8)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.parent.glob(f".{out_dir.name}.*-*"):  # left by a killed build
        if not _alive(stale.name.rsplit("-", 1)[1]):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        log(f"building {num_train} train + {num_val} val images (seed {seed}, {workers} "
            f"worker{'s' * (workers > 1)}) in {out_dir}")
        info = _write(tmp, num_train, num_val, seed, workers, log)
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    log(f"done in {info['seconds']} s: {num_train} + {num_val} images, "
        f"{info['train_captions']} + {info['val_captions']} captions, {info['vocab_size']} words, "
        f"features {info['feature_dim']} -> PCA {PCA_DIM}, {size / 1e6:.1f} MB in {out_dir}")
    return out_dir


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass
    return True


def is_complete(out_dir, **params):
    """True when out_dir holds a finished build (with these build parameters, if given)."""
    out_dir = Path(out_dir)
    try:
        info = json.loads((out_dir / "BUILD_INFO.json").read_text())
    except (OSError, ValueError):
        return False
    want = _build_params(**params) if params else {"format_version": FORMAT_VERSION}
    if any(info.get(k) != v for k, v in want.items()):
        return False
    if not all((out_dir / f).is_file() for f in layout_files()):
        return False
    images = [p for s in SPLITS for p in (out_dir / f"{s}2014_images.txt").read_text().split()]
    return len(images) == info["num_train"] + info["num_val"] and all((out_dir / p).is_file() for p in images)


def ensure_built(out_dir=None, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, **kw):
    """Build the set unless out_dir (default datasets/offline_captioning) is already complete."""
    out_dir = Path(out_dir or DEFAULT_DIR)
    if is_complete(out_dir, num_train=num_train, num_val=num_val, seed=seed):
        return out_dir
    return build(out_dir, num_train, num_val, seed, **kw)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m cs231n.offline_data", description=__doc__.split("\n")[0])
    p.add_argument("out_dir", nargs="?", default=str(DEFAULT_DIR), help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-train", type=int, default=NUM_TRAIN)
    p.add_argument("--num-val", type=int, default=NUM_VAL)
    p.add_argument("--small", action="store_true", help=f"a tiny set ({SMALL[0]} + {SMALL[1]} images)")
    p.add_argument("--workers", type=int, default=None, help="feature processes (default: cores)")
    p.add_argument("--force", action="store_true", help="rebuild even if a complete build exists")
    a = p.parse_args(argv)
    n_train, n_val = SMALL if a.small else (a.num_train, a.num_val)
    if not a.force and is_complete(a.out_dir, num_train=n_train, num_val=n_val, seed=a.seed):
        print(f"offline_data: {a.out_dir} is already built (use --force to rebuild)")
        return 0
    try:
        build(a.out_dir, n_train, n_val, a.seed, workers=a.workers)
    except (efficientnet.MissingWeightsError, NotOurFolderError) as e:
        print(f"offline_data: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kept = " (the complete set built before is still there)" if is_complete(a.out_dir) else ""
        print(f"\noffline_data: interrupted; nothing half-built was kept{kept}. Run it again to "
              f"build the set.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
