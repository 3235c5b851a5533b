"""The caption explorer in a real browser: Voila serves the explorer notebook on
127.0.0.1, headless Chromium (the system's, driven by Playwright) changes the
image and the sampling strategy, and the caption and the image on the page
must change. A screenshot is saved to out/browser/ as a test artifact.

Needs the system Chromium (/usr/bin/chromium; scripts/setup.sh installs it
when it runs as root), playwright and voila; skipped with the reason otherwise.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get('CS231N_CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
ARTIFACTS = REPO / 'out' / 'browser'

sync_api = pytest.importorskip('playwright.sync_api', reason='playwright is not installed')
pytest.importorskip('voila', reason='voila is not installed')
if not os.path.exists(CHROMIUM):
    pytest.skip('no system Chromium at %s (apt-get install chromium)' % CHROMIUM, allow_module_level=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def voila_url(tmp_path_factory):
    if not (REPO / 'notebooks' / 'Caption_Explorer.ipynb').exists():
        pytest.skip('notebooks/Caption_Explorer.ipynb is not built')
    port = free_port()
    log = open(tmp_path_factory.mktemp('voila') / 'voila.log', 'w+')
    env = dict(os.environ, OPENBLAS_NUM_THREADS='1')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'voila', 'notebooks/Caption_Explorer.ipynb', '--no-browser',
         '--port=%d' % port, '--Voila.ip=127.0.0.1', '--ServerApp.ip=127.0.0.1'],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = 'http://127.0.0.1:%d/' % port
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail('voila exited with code %s:\n%s' % (proc.returncode, log.read()[-3000:]))
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail('voila did not start listening on %s within 60 s' % url)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope='module')
def page(voila_url):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync'])
        pg = browser.new_page(viewport={'width': 1200, 'height': 900})
        pg.set_default_timeout(90_000)
        pg.goto(voila_url)
        pg.wait_for_selector('.cx-text', timeout=120_000)  # the notebook trains a model first
        yield pg
        browser.close()


def state(pg):
    return pg.inner_text('.cx-text'), pg.get_attribute('.caption-explorer img', 'src'), pg.inner_text('.cx-caption')


def wait_for_change(pg, before, what, until=lambda s: True, timeout=30):
    """Wait until the page differs from `before`, satisfies `until`, and has
    stayed the same for a second (a slider moved by keys updates several times)."""
    t0, last, since = time.time(), None, 0.0
    while time.time() - t0 < timeout:
        now = state(pg)
        if now != last:
            last, since = now, time.time()
        elif now != before and until(now) and time.time() - since > 1.0:
            return now
        time.sleep(0.2)
    pytest.fail('the page did not change as expected after %s: %r' % (what, last))


def test_explorer_in_browser(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    first = state(page)
    assert first[0].strip(), 'no caption shown'
    assert first[1] and first[1].startswith(('blob:', 'data:')), first[1]
    assert 'Model (greedy)' in first[2]

    # a different image: the slider, moved with the keyboard
    handle = page.locator('.caption-explorer .widget-slider .noUi-handle').first
    handle.focus()
    for _ in range(7):
        page.keyboard.press('ArrowRight')
    second = wait_for_change(page, first, 'moving the image slider')
    assert second[1] != first[1], 'the image did not change'

    # the sampling strategy: beam search
    page.get_by_role('button', name='beam', exact=True).click()
    third = wait_for_change(page, second, 'choosing beam search', lambda s: 'beam' in s[2])
    assert 'beam width 3' in third[2]

    # temperature, then "Sample again"
    page.get_by_role('button', name='temperature', exact=True).click()
    fourth = wait_for_change(page, third, 'choosing temperature sampling', lambda s: 'temperature' in s[2])
    assert 'temperature 1.00, seed 0' in fourth[2]
    page.get_by_role('button', name='Sample again').click()
    fifth = wait_for_change(page, fourth, 'sampling again', lambda s: 'seed 1' in s[2])
    assert 'seed 1' in fifth[2]

    # the Random button moves to another image
    page.get_by_role('button', name='Random image').click()
    sixth = wait_for_change(page, fifth, 'clicking Random image')
    assert sixth[1] != fifth[1] or sixth[0] != fifth[0]

    assert page.locator('.cx-error').count() == 0
    page.screenshot(path=str(ARTIFACTS / 'caption_explorer.png'), full_page=True)
    assert (ARTIFACTS / 'caption_explorer.png').stat().st_size > 10_000
