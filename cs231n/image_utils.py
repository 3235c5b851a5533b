"""Reading images for display: from a local file or a URL, never raising for a
dead link."""
import io
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

TIMEOUT = 5.0  # seconds for a web request, from connecting to the last byte
MAX_BYTES = 20 * 1024 * 1024  # an image bigger than this is not read
RETRY_AFTER = 60.0  # seconds during which a host that could not be reached is not asked again
_UNREACHABLE = {}   # host -> (time.monotonic() of the failure, reason)


_LAST = ['']        # the last warning, for dataset_image's note


def _warn(msg):
    _LAST[0] = msg
    print('image_from_url: %s' % msg, file=sys.stderr)


def _decode(raw, name):
    """Decode image bytes into an (H, W, 3) uint8 RGB array."""
    from PIL import Image, UnidentifiedImageError  # Pillow comes with matplotlib
    try:
        with Image.open(io.BytesIO(raw)) as im:
            return np.asarray(im.convert('RGB'))
    except UnidentifiedImageError:
        raise ValueError('not an image file (%d bytes that no image format recognises)' % len(raw)) from None


def _read_web(url, timeout):
    """The bytes at an http(s) URL, at most MAX_BYTES. A server that sends
    slowly is given up on after `timeout` seconds in all (at most one more
    wait of `timeout` for the read under way), not `timeout` per read."""
    deadline = None if timeout is None else time.monotonic() + timeout
    req = urllib.request.Request(url, headers={'User-Agent': 'cs231n-captioning'})
    chunks, size = [], 0
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError('no complete answer within %g s' % timeout)
            chunk = resp.read1(65536) if hasattr(resp, 'read1') else resp.read(65536)
            if not chunk:
                return b''.join(chunks)
            size += len(chunk)
            if size > MAX_BYTES:
                raise ValueError('larger than %d MB: not read' % (MAX_BYTES // 2**20))
            chunks.append(chunk)


def image_from_url(url, timeout=TIMEOUT):
    """Read an image into memory, with no temporary file.

    Inputs:
    - url: An http(s) URL, a file:// URL or a local path
    - timeout: Seconds to wait for a web server

    Returns:
    - An array of shape (H, W, 3), dtype uint8, RGB; or None (with a one-line
      warning on stderr) if the image cannot be had.
    """
    if url is None or not isinstance(url, (str, os.PathLike)) or not str(url).strip():
        _warn('url must be a URL or a path (a str); got %r' % (url,))
        return None
    url = os.fspath(url)
    parts = urllib.parse.urlparse(url)
    scheme, host = parts.scheme.lower(), parts.netloc.lower()
    web = scheme in ('http', 'https')
    if web and host in _UNREACHABLE:  # offline, a failed name lookup can take 15 s per image
        when, reason = _UNREACHABLE[host]
        ago = time.monotonic() - when
        if ago < RETRY_AFTER:
            _warn('%s: skipped: %s could not be reached %.0f s ago (%s); it is asked again %.0f s after '
                  'that' % (url, host, ago, reason, RETRY_AFTER))
            return None
        del _UNREACHABLE[host]
    try:
        if web:
            raw = _read_web(url, timeout)
        elif scheme not in ('', 'file') and len(scheme) > 1:   # (one letter: a Windows drive)
            raise ValueError('%s:// is not supported: give an http(s) URL, a file:// URL or a path' % scheme)
        else:
            path = urllib.parse.unquote(urllib.parse.urlparse(url).path) if scheme == 'file' else url
            with open(os.path.expanduser(path), 'rb') as f:
                raw = f.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                raise ValueError('larger than %d MB: not read' % (MAX_BYTES // 2**20))
        return _decode(raw, url)
    except urllib.error.HTTPError as e:
        _warn('%s: HTTP error %d (%s)' % (url, e.code, e.reason))
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, 'reason', None) or e
        text = str(reason).splitlines()[0] if str(reason) else type(e).__name__
        if not web and isinstance(e, OSError) and e.strerror:   # the path is said once, in front
            text = e.strerror
        if web and isinstance(reason, OSError):  # no name, no route, refused, timed out: not this image's fault
            _UNREACHABLE[host] = (time.monotonic(), text)
        _warn('%s: %s' % (url, text))
    except Exception as e:  # a broken image file must not stop a notebook
        _warn('%s: %s: %s' % (url, type(e).__name__, e))
    return None


def placeholder(size=96):
    """A grey image with a cross, shown when no image can be had."""
    img = np.full((size, size, 3), 200, dtype=np.uint8)
    i = np.arange(size)
    img[i, i] = img[i, size - 1 - i] = 120
    return img


def load_image(filename, size=None):
    """Load an image from disk, as the official image_utils does, and scale it
    so that its shorter side is `size` pixels.

    Inputs:
    - filename: Path to an image file
    - size: Length of the shorter side after scaling (None: as it is)

    Returns:
    - img: Array of uint8: (H, W) for a grey image, else (H, W, 3) RGB, or
      (H, W, 4) RGBA for an image with transparency
    """
    from PIL import Image  # Pillow comes with matplotlib
    with Image.open(filename) as im:
        im.load()
        if im.mode.startswith('I'):                # 16-bit grey: to 8 bits
            im = Image.fromarray((np.asarray(im, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
        elif im.mode not in ('L', 'RGB', 'RGBA'):  # palette, 1-bit, CMYK, ...
            transparent = 'A' in im.getbands() or 'transparency' in im.info
            im = im.convert('RGBA' if transparent else 'L' if im.mode == '1' else 'RGB')
        if size is not None:
            w, h = im.size
            scale = float(size) / min(w, h)
            im = im.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BILINEAR)
        return np.asarray(im)


def dataset_image(data, split, image_idx):
    """The image of one data row, for display: the local file first, the URL
    only when there is no local file, a placeholder when neither works.

    Inputs:
    - data: Dict from load_coco_data
    - split: 'train' or 'val'
    - image_idx: Row of the image in data['<split>_features'], or its URL as
      returned by sample_coco_minibatch

    Returns a tuple of:
    - img: Array of shape (H, W, 3), uint8
    - note: '' when the image was found, else a one-line explanation
    """
    if split not in ('train', 'val') or '%s_urls' % split not in data:
        raise ValueError("dataset_image: split must be 'train' or 'val' (with data['<split>_urls']); got %r"
                         % (split,))
    if isinstance(image_idx, (str, np.str_)):
        rows = np.flatnonzero(data['%s_urls' % split] == image_idx)
        if len(rows) == 0:
            return placeholder(), 'no %s image has the URL %s' % (split, image_idx)
        image_idx = int(rows[0])
    n = len(data['%s_urls' % split])
    if not isinstance(image_idx, (int, np.integer)) or isinstance(image_idx, bool) or not 0 <= image_idx < n:
        raise ValueError('dataset_image: image_idx must be a URL of the split or an image row in [0, %d); got %r'
                         % (n, image_idx))
    local = data.get('%s_images' % split)
    sources = ([local[image_idx]] if local is not None else []) + [data['%s_urls' % split][image_idx]]
    reasons = []
    for src in dict.fromkeys(str(s) for s in sources):     # the local file first, then the URL
        _LAST[0] = ''
        img = image_from_url(src)
        if img is not None:
            return img, ''
        reasons.append(_LAST[0] or src)
    return placeholder(), 'image %d of %s could not be loaded: %s' % (image_idx, split, '; '.join(reasons))
