"""image_from_url: local files, a local web server, dead links, no temp files."""
import http.server
import os
import tempfile
import threading

import numpy as np
import pytest

from cs231n import image_utils
from cs231n.image_utils import image_from_url


@pytest.fixture(autouse=True)
def no_remembered_hosts():
    image_utils._UNREACHABLE.clear()
    yield
    image_utils._UNREACHABLE.clear()


@pytest.fixture
def png(tmp_path):
    import matplotlib.image
    img = np.zeros((6, 8, 4), dtype=np.uint8)
    img[..., 0] = 200
    img[..., 3] = 255
    path = tmp_path / 'red.png'
    matplotlib.image.imsave(path, img)
    return path


@pytest.fixture
def server(tmp_path, png):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(png.parent), **k)

        def log_message(self, *a):
            pass
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Quiet)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield 'http://127.0.0.1:%d' % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_local_path_and_file_url(png):
    for src in (str(png), png.as_uri()):
        img = image_from_url(src)
        assert img.shape == (6, 8, 3) and img.dtype == np.uint8
        assert (img[..., 0] == 200).all() and (img[..., 1:] == 0).all()


def test_http(server):
    img = image_from_url(server + '/red.png')
    assert img.shape == (6, 8, 3)
    assert image_from_url(server + '/red.png', timeout=None).shape == (6, 8, 3)   # no limit, as urllib's


def test_dead_links_return_none_with_one_line(server, tmp_path, capsys, monkeypatch):
    (tmp_path / 'junk.jpg').write_bytes(b'not an image')
    private = tmp_path / 'tmp'            # a temporary folder of its own: others may write to /tmp meanwhile
    private.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(private))
    for src in (server + '/missing.jpg', 'http://127.0.0.1:9/x.jpg', str(tmp_path / 'nope.jpg'),
                str(tmp_path / 'junk.jpg')):
        assert image_from_url(src, timeout=2) is None
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and err.startswith('image_from_url: ') and src in err
    assert tempfile.gettempdir() == str(private) and os.listdir(private) == []


def test_coco_mini_images(coco_mini_data):
    img = image_from_url(coco_mini_data['val_images'][0])
    assert img.ndim == 3 and img.shape[2] == 3 and max(img.shape[:2]) == 224


def test_slow_server_is_given_up_on_in_about_the_timeout(capsys):
    """A server that trickles its answer, a byte at a time: the timeout counts
    for the whole image, not for each read."""
    import socket
    import time
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)
    stop = threading.Event()

    def trickle():
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 1000000\r\n\r\n')
        end = time.monotonic() + 8          # (so that a reader without a total timeout ends too)
        while not stop.is_set() and time.monotonic() < end:
            try:
                conn.sendall(b'x')
            except OSError:
                break
            time.sleep(0.2)
        conn.close()
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    t0 = time.monotonic()
    host = '127.0.0.1:%d' % srv.getsockname()[1]
    assert image_from_url('http://%s/slow.jpg' % host, timeout=1.5) is None
    took = time.monotonic() - t0
    assert host in image_utils._UNREACHABLE    # its next images are not waited for
    stop.set()
    srv.close()
    assert took < 4, took          # per-read timeouts alone would wait until the 1 MB came
    assert 'no complete answer within 1.5 s' in capsys.readouterr().err


def test_messages_for_a_non_image_and_another_scheme(tmp_path, capsys):
    (tmp_path / 'notes.txt').write_text('hello')
    assert image_from_url(str(tmp_path / 'notes.txt')) is None
    assert 'not an image file (5 bytes' in capsys.readouterr().err
    assert image_from_url('ftp://example.org/a.jpg') is None
    assert 'ftp:// is not supported' in capsys.readouterr().err


def test_dataset_image_checks_its_arguments():
    from cs231n.image_utils import dataset_image
    data = {'train_urls': np.array(['a', 'b'])}
    with pytest.raises(ValueError, match=r"split must be 'train' or 'val'"):
        dataset_image(data, 'test', 0)
    for bad in (-1, 2, 10**6, 1.0):
        with pytest.raises(ValueError, match=r'image_idx must be a URL of the split or an image row in \[0, 2\)'):
            dataset_image(data, 'train', bad)


def test_load_image_reads_a_file_and_scales_its_shorter_side(tmp_path):
    from PIL import Image
    from cs231n.image_utils import load_image
    rgb = np.zeros((40, 100, 3), dtype=np.uint8)
    rgb[:, 50:] = 255
    Image.fromarray(rgb).save(tmp_path / 'wide.png')
    img = load_image(str(tmp_path / 'wide.png'))
    assert img.dtype == np.uint8 and np.array_equal(img, rgb)
    small = load_image(str(tmp_path / 'wide.png'), size=20)
    assert small.shape == (20, 50, 3) and small[:, :20].max() == 0 and small[:, 30:].min() == 255
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / 'grey.png')
    assert load_image(str(tmp_path / 'grey.png'), size=80).shape == (80, 200)
    with pytest.raises(FileNotFoundError):
        load_image(str(tmp_path / 'missing.png'))


def test_load_image_gives_uint8_pixels_whatever_the_file_mode(tmp_path):
    from PIL import Image
    from cs231n.image_utils import load_image
    rgb = np.zeros((10, 20, 3), dtype=np.uint8)
    rgb[:, 10:] = (200, 30, 30)
    Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE, colors=4).save(tmp_path / 'palette.png')
    Image.fromarray(rgb[:, :, 0] > 100).save(tmp_path / 'onebit.png')
    Image.fromarray((rgb[:, :, 0].astype(np.uint16) * 257)).save(tmp_path / 'sixteen.png')
    palette = load_image(str(tmp_path / 'palette.png'))
    assert palette.dtype == np.uint8 and palette.shape == (10, 20, 3)
    assert tuple(palette[0, 15]) == (200, 30, 30) and tuple(palette[0, 0]) == (0, 0, 0)
    onebit = load_image(str(tmp_path / 'onebit.png'))
    assert onebit.dtype == np.uint8 and onebit.shape == (10, 20) and onebit[0, 15] == 255 and onebit[0, 0] == 0
    sixteen = load_image(str(tmp_path / 'sixteen.png'))
    assert sixteen.dtype == np.uint8 and sixteen[0, 15] == 200 and sixteen[0, 0] == 0


def test_a_host_that_could_not_be_reached_is_not_asked_again_for_a_while(monkeypatch, server, capsys):
    """Offline, each failed name lookup can take 15 s: the next images of that
    host are skipped at once, with a line that says why, until RETRY_AFTER."""
    import socket
    import urllib.error
    import urllib.request
    asked = []
    real_urlopen = urllib.request.urlopen

    def urlopen(req, timeout=None):
        asked.append(req.full_url)
        if 'images.cocodataset.org' in req.full_url:
            raise urllib.error.URLError(socket.gaierror(-3, 'Temporary failure in name resolution'))
        return real_urlopen(req, timeout=timeout)
    monkeypatch.setattr(urllib.request, 'urlopen', urlopen)
    first, second = ('http://images.cocodataset.org/val2014/%s.jpg' % n for n in ('a', 'b'))
    assert image_from_url(first) is None
    assert 'Temporary failure in name resolution' in capsys.readouterr().err
    assert image_from_url(second) is None
    err = capsys.readouterr().err
    assert asked == [first], asked
    assert err.count('\n') == 1 and second in err
    assert 'skipped: images.cocodataset.org could not be reached' in err and 'name resolution' in err
    # another host is still asked; a missing image (HTTP 404) does not stop its host
    assert image_from_url(server + '/missing.jpg') is None
    assert image_from_url(server + '/red.png').shape == (6, 8, 3)
    assert asked[1:] == [server + '/missing.jpg', server + '/red.png']
    capsys.readouterr()
    monkeypatch.setattr(image_utils, 'RETRY_AFTER', 0.0)   # later on, the host is asked again
    assert image_from_url(second) is None
    assert asked[-1] == second and 'skipped' not in capsys.readouterr().err


def test_a_refused_connection_is_remembered_too(capsys):
    assert image_from_url('http://127.0.0.1:9/x.jpg', timeout=2) is None
    assert '127.0.0.1:9' in image_utils._UNREACHABLE
    assert image_from_url('http://127.0.0.1:9/y.jpg', timeout=2) is None
    assert 'skipped: 127.0.0.1:9 could not be reached' in capsys.readouterr().err


@pytest.mark.parametrize('url', [None, '', 42])
def test_no_url_says_what_it_got(url, capsys):
    assert image_from_url(url) is None
    err = capsys.readouterr().err
    assert err == 'image_from_url: url must be a URL or a path (a str); got %r\n' % (url,)


def test_a_local_file_larger_than_the_limit_is_not_read(monkeypatch, png, capsys):
    monkeypatch.setattr(image_utils, 'MAX_BYTES', png.stat().st_size - 1)
    assert image_from_url(str(png)) is None
    assert capsys.readouterr().err == 'image_from_url: %s: larger than 0 MB: not read\n' % png
    monkeypatch.setattr(image_utils, 'MAX_BYTES', png.stat().st_size)
    assert image_from_url(str(png)).shape == (6, 8, 3)


def test_dataset_image_says_why_each_source_failed(tmp_path, capsys):
    from cs231n.image_utils import dataset_image
    (tmp_path / 'junk.png').write_bytes(b'not an image')
    data = {'val_images': np.array([str(tmp_path / 'gone.png')]), 'val_urls': np.array([str(tmp_path / 'junk.png')])}
    img, note = dataset_image(data, 'val', 0)
    assert img.shape == (96, 96, 3)
    assert note == ('image 0 of val could not be loaded: %s: No such file or directory; %s: not an image file '
                    '(12 bytes that no image format recognises)' % (tmp_path / 'gone.png', tmp_path / 'junk.png'))
    capsys.readouterr()
