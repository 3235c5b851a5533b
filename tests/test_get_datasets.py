"""End-to-end tests of get_datasets.sh against a local HTTP server (no internet needed).

The archive is built in the official layout (a top-level ``coco_captioning/`` folder) from the real
coco_mini fixture and served from 127.0.0.1. The server can honour ``Range`` requests (so resuming
can be checked), cut the connection after some bytes, answer 404, or ignore ``Range``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from datasets_server import (EXPECTED, PROG, REPO, SCRIPT, ZipServer, assert_dataset_ok,
                             assert_refused, free_port, make_zip, restricted_path, run)


# ---- fixtures (coco_mini: tests/conftest.py) ---------------------------------------------------

@pytest.fixture(scope="session")
def good_zip(coco_mini) -> bytes:
    missing = [name for name in EXPECTED if not (coco_mini / name).is_file()]
    assert not missing, f"the coco_mini fixture at {coco_mini} lacks {', '.join(missing)}"
    return make_zip(coco_mini)


@pytest.fixture
def server(good_zip):
    srv = ZipServer()
    srv.body = good_zip
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


# ---- the cases ---------------------------------------------------------------------------------

def test_fresh_download(server, tmp_path, coco_mini):
    result = run(server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert_dataset_ok(tmp_path, coco_mini)
    assert (tmp_path / "coco_captioning" / "README.md").is_file()  # extra files are tolerated
    assert server.requests == [("GET", None)]


def test_interrupted_download_resumes(server, tmp_path, coco_mini, good_zip):
    cut = len(good_zip) // 3
    server.cut_after = cut
    first = run(server.url, tmp_path)
    assert_refused(first, tmp_path, "interrupted", "run this script again")
    assert (tmp_path / "coco_captioning.zip.part").stat().st_size == cut
    assert not (tmp_path / "coco_captioning.zip").exists()

    server.requests.clear()
    second = run(server.url, tmp_path)
    assert second.returncode == 0, second.stderr
    assert server.requests == [("GET", f"bytes={cut}-")]
    assert "resuming" in second.stdout
    assert_dataset_ok(tmp_path, coco_mini)


def test_complete_part_file_is_used(server, tmp_path, coco_mini, good_zip):
    # killed after the download finished but before the rename: the server answers 416
    (tmp_path / "coco_captioning.zip.part").write_bytes(good_zip)
    result = run(server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert server.requests == [("GET", f"bytes={len(good_zip)}-")]
    assert_dataset_ok(tmp_path, coco_mini)


def test_server_without_range_support_restarts(server, tmp_path, coco_mini, good_zip):
    (tmp_path / "coco_captioning.zip.part").write_bytes(good_zip[:1000])
    server.ranges = False
    result = run(server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cannot resume" in result.stdout
    assert [method for method, _ in server.requests] == ["GET", "GET"]
    assert server.requests[1] == ("GET", None)
    assert_dataset_ok(tmp_path, coco_mini)


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_corrupt_archive_is_refused_and_deleted(server, tmp_path, good_zip, damage):
    if damage == "truncated":
        server.body = good_zip[: len(good_zip) * 2 // 3]
    else:  # flip bytes inside the compressed data, keep the length and the central directory
        body = bytearray(good_zip)
        middle = len(body) // 2
        body[middle:middle + 64] = bytes(b ^ 0xFF for b in body[middle:middle + 64])
        server.body = bytes(body)
    result = run(server.url, tmp_path)
    assert_refused(result, tmp_path, "corrupt", "invalid", "deleted")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the bad zip is gone

    server.body = good_zip  # the next run downloads again and succeeds
    server.requests.clear()
    assert run(server.url, tmp_path).returncode == 0
    assert server.requests == [("GET", None)]


def test_archive_missing_a_file_is_refused(server, tmp_path, coco_mini):
    server.body = make_zip(coco_mini, leave_out="val2014_vgg16_fc7_pca.h5")
    result = run(server.url, tmp_path)
    assert_refused(result, tmp_path, "invalid", "coco_captioning/val2014_vgg16_fc7_pca.h5")
    assert "train2014_vgg16_fc7.h5" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_checksum(server, tmp_path, coco_mini, good_zip):
    wrong = run(server.url, tmp_path, COCO_CAPTIONING_SHA256="0" * 64)
    assert_refused(wrong, tmp_path, "SHA-256", "0" * 64, "kept as", "coco_captioning.zip.bad")
    # a whole archive of another version: kept aside for a look, never used
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coco_captioning.zip.bad"]
    assert (tmp_path / "coco_captioning.zip.bad").read_bytes() == good_zip
    (tmp_path / "coco_captioning.zip.bad").unlink()
    # malformed (a typo, a cut paste): refused before anything is downloaded
    requests = len(server.requests)
    for bad in ("abc", "0" * 63, "g" * 64):
        refused = run(server.url, tmp_path, COCO_CAPTIONING_SHA256=bad)
        assert_refused(refused, tmp_path, "must be the archive's SHA-256, 64 hexadecimal digits", repr(bad))
    assert len(server.requests) == requests and sorted(p.name for p in tmp_path.iterdir()) == []
    # pasted with spaces around it, or as a whole sha256sum line: fine
    digest = hashlib.sha256(good_zip).hexdigest()
    pasted = run(server.url, tmp_path, COCO_CAPTIONING_SHA256=" %s  coco_captioning.zip\n" % digest)
    assert pasted.returncode == 0, pasted.stderr
    shutil.rmtree(tmp_path / "coco_captioning")
    right = run(server.url, tmp_path, COCO_CAPTIONING_SHA256=hashlib.sha256(good_zip).hexdigest().upper())
    assert right.returncode == 0, right.stderr
    # the data went to CS231N_DATASETS_DIR, not datasets/: the loader must be told
    assert f"set CS231N_COCO_DIR={tmp_path}/coco_captioning" in right.stdout
    assert_dataset_ok(tmp_path, coco_mini)


def test_second_run_does_nothing(server, tmp_path, coco_mini):
    assert run(server.url, tmp_path).returncode == 0
    server.requests.clear()
    again = run(server.url, tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines() == [
        f"get_datasets.sh: the COCO captioning data is already in {tmp_path}/coco_captioning; nothing to do "
        "(--force fetches it again)"]
    assert again.stderr == ""
    assert server.requests == []
    assert_dataset_ok(tmp_path, coco_mini)


def test_force_fetches_a_damaged_copy_again_and_keeps_the_old_aside(server, tmp_path, coco_mini):
    assert run(server.url, tmp_path).returncode == 0
    vocab = tmp_path / "coco_captioning" / "coco2014_vocab.json"
    vocab.write_text("{bad")                        # damaged, but not missing or empty
    server.requests.clear()
    again = run(server.url, tmp_path, "--force")
    assert again.returncode == 0, again.stderr
    assert server.requests, "--force must download again"
    for name in EXPECTED:
        assert (tmp_path / "coco_captioning" / name).read_bytes() == (coco_mini / name).read_bytes(), name
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("coco_captioning.old-")]
    assert len(aside) == 1 and (aside[0] / "coco2014_vocab.json").read_text() == "{bad"


def test_incomplete_existing_folder_is_replaced_and_kept_aside(server, tmp_path, coco_mini):
    old = tmp_path / "coco_captioning"
    old.mkdir()
    (old / "coco2014_vocab.json").write_text("{}")
    result = run(server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("coco_captioning.old-")]
    assert len(kept) == 1 and (kept[0] / "coco2014_vocab.json").read_text() == "{}"
    shutil.rmtree(kept[0])
    assert_dataset_ok(tmp_path, coco_mini)


def test_http_404(server, tmp_path):
    server.status = 404
    result = run(server.url, tmp_path)
    assert_refused(result, tmp_path, "HTTP 404", "COCO_CAPTIONING_URL")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_connection_refused(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/coco_captioning.zip"
    result = run(url, tmp_path)
    assert_refused(result, tmp_path, "cannot connect", "internet connection",
                   "with no network, build the offline set instead: bash get_datasets.sh --offline")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to simulate a full disk")
def test_disk_full(server, tmp_path):
    (tmp_path / "coco_captioning.zip.part").symlink_to("/dev/full")  # every write fails: ENOSPC
    result = run(server.url, tmp_path)
    assert_refused(result, tmp_path, "disk full", "Free some space")


def test_unzip_missing_falls_back_to_python(server, tmp_path, coco_mini, good_zip):
    path = restricted_path(tmp_path, {"unzip", "zipinfo"})
    dest = tmp_path / "data"
    server.body = good_zip[: len(good_zip) - 100]  # cut into the central directory
    corrupt = run(server.url, dest, PATH=path, PYTHON=sys.executable)
    assert_refused(corrupt, dest, "corrupt", "deleted")
    server.body = good_zip
    result = run(server.url, dest, PATH=path, PYTHON=sys.executable)
    assert result.returncode == 0, result.stderr
    assert_dataset_ok(dest, coco_mini)


def test_wget_when_curl_is_missing(server, tmp_path, coco_mini, good_zip):
    if shutil.which("wget") is None:
        pytest.skip("wget is not installed")
    path = restricted_path(tmp_path, {"curl"})
    dest = tmp_path / "data"
    dest.mkdir()
    cut = len(good_zip) // 2
    (dest / "coco_captioning.zip.part").write_bytes(good_zip[:cut])
    result = run(server.url, dest, PATH=path)
    assert result.returncode == 0, result.stderr
    assert server.requests == [("GET", f"bytes={cut}-")]
    assert_dataset_ok(dest, coco_mini)


def test_no_download_tool(tmp_path):
    path = restricted_path(tmp_path, {"curl", "wget"})
    dest = tmp_path / "data"
    result = run("http://127.0.0.1:9/never", dest, PATH=path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"{PROG} neither curl nor wget is installed; install one (e.g. 'sudo apt-get install curl'), "
        "then run again"]


def test_default_destination_is_next_to_the_script(server, tmp_path, coco_mini):
    copy = tmp_path / "checkout" / "get_datasets.sh"
    copy.parent.mkdir()
    shutil.copy2(SCRIPT, copy)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(server.url, None, script=copy)  # run from "/", no CS231N_DATASETS_DIR
    assert result.returncode == 0, result.stderr
    assert_dataset_ok(tmp_path / "checkout" / "datasets", coco_mini)


def test_offline_runs_the_builder_with_the_chosen_python(tmp_path):
    fake = tmp_path / "fake-python"
    record = tmp_path / "called"
    fake.write_text(f'#!/bin/sh\necho "$PWD $*" > "{record}"\nexit "${{FAKE_RC:-0}}"\n')
    fake.chmod(0o755)
    ok = run("http://127.0.0.1:9/never", None, "--offline", PYTHON=str(fake))
    assert ok.returncode == 0, ok.stderr
    assert record.read_text().split() == [str(REPO), "-m", "cs231n.offline_data"]   # its default folder
    # CS231N_DATASETS_DIR names the folder for the offline set too, and the loader is told
    chosen = run("http://127.0.0.1:9/never", tmp_path, "--offline", PYTHON=str(fake))
    assert chosen.returncode == 0, chosen.stderr
    assert record.read_text().split() == [str(REPO), "-m", "cs231n.offline_data", str(tmp_path / "offline_captioning")]
    assert f"set CS231N_COCO_DIR={tmp_path}/offline_captioning" in chosen.stdout
    forced = run("http://127.0.0.1:9/never", tmp_path, "--force", "--offline", PYTHON=str(fake))
    assert forced.returncode == 0, forced.stderr
    assert record.read_text().split() == [str(REPO), "-m", "cs231n.offline_data", str(tmp_path / "offline_captioning"),
                                          "--force"]
    failed = run("http://127.0.0.1:9/never", tmp_path, "--offline", PYTHON=str(fake), FAKE_RC="3")
    assert failed.returncode != 0
    assert failed.stderr.strip().splitlines() == [
        f"{PROG} building the offline dataset failed (exit code 3); see the messages above"]


def test_not_enough_space_to_unpack_keeps_the_archive(server, tmp_path, coco_mini):
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "df").write_text("#!/bin/sh\nprintf 'Filesystem 1024-blocks Used Available Capacity "
                             "Mounted on\\nfake 100 99 1 99%% /\\n'\n")
    (fake / "df").chmod(0o755)
    dest = tmp_path / "data"
    full = run(server.url, dest, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    assert_refused(full, dest, "not enough disk space", "the archive is kept")
    assert sorted(p.name for p in dest.iterdir()) == ["coco_captioning.zip"]

    server.requests.clear()
    later = run(server.url, dest)  # space freed: no new download
    assert later.returncode == 0, later.stderr
    assert "using the archive already downloaded" in later.stdout
    assert server.requests == []
    assert_dataset_ok(dest, coco_mini)


def test_terminated_download_stops_at_once_and_resumes(server, tmp_path, coco_mini):
    server.throttle = 0.05
    env = dict(os.environ, COCO_CAPTIONING_URL=server.url, CS231N_DATASETS_DIR=str(tmp_path),
               NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    env.pop("COCO_CAPTIONING_SHA256", None)
    proc = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    part = tmp_path / "coco_captioning.zip.part"
    deadline = time.monotonic() + 20
    while not (part.exists() and part.stat().st_size > 0):
        assert time.monotonic() < deadline and proc.poll() is None, "the download never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143
    assert err.strip().splitlines() == [
        "get_datasets.sh: interrupted; run it again to continue (a download resumes)"]
    if os.path.isdir("/proc/self"):  # the downloader was stopped too, not left running
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                assert str(part).encode() not in cmdline.read_bytes()
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass
    have = part.stat().st_size
    assert 0 < have < len(server.body)
    # the partial download and the URL it comes from stay; the lock and temporary files do not
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "coco_captioning.zip.part", "coco_captioning.zip.part.url"]
    assert (tmp_path / "coco_captioning.zip.part.url").read_text() == server.url + "\n"

    server.throttle = 0.0
    server.requests.clear()
    result = run(server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert server.requests == [("GET", f"bytes={have}-")]
    assert_dataset_ok(tmp_path, coco_mini)


def test_partial_download_of_another_url_is_not_resumed(server, tmp_path, coco_mini, good_zip):
    (tmp_path / "coco_captioning.zip.part").write_bytes(b"x" * 5000)  # bytes of another file
    (tmp_path / "coco_captioning.zip.part.url").write_text("http://mirror.invalid/other.zip\n")
    result = run(server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "came from http://mirror.invalid/other.zip" in result.stdout
    assert server.requests == [("GET", None)]  # from the first byte, not bytes=5000-
    assert_dataset_ok(tmp_path, coco_mini)


def _start(server, dest: Path) -> subprocess.Popen:
    env = dict(os.environ, COCO_CAPTIONING_URL=server.url, CS231N_DATASETS_DIR=str(dest),
               NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    env.pop("COCO_CAPTIONING_SHA256", None)
    return subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_second_run_at_the_same_time_is_refused(server, tmp_path, coco_mini):
    server.throttle = 0.05
    first = _start(server, tmp_path)
    part = tmp_path / "coco_captioning.zip.part"
    deadline = time.monotonic() + 20
    while not (part.exists() and part.stat().st_size > 0):
        assert time.monotonic() < deadline and first.poll() is None, "the download never started"
        time.sleep(0.02)
    second = run(server.url, tmp_path)
    assert second.returncode != 0
    assert second.stderr.strip().splitlines() == [
        f"{PROG} another run of get_datasets.sh (process {first.pid}) is already fetching the data "
        f"into {tmp_path}, or a download it started is still going. Wait for it to finish, or stop "
        "it, then run again"]
    server.throttle = 0.0
    _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err  # the second run took nothing from the first
    assert_dataset_ok(tmp_path, coco_mini)  # and the lock is gone


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


@pytest.mark.parametrize("pid_file", ["dead process", "empty"])
def test_lock_of_a_killed_run_is_taken_over(server, tmp_path, coco_mini, pid_file):
    # with flock the kernel dropped the killed run's lock: the file it left is reused
    lock = tmp_path / ".coco_captioning.lock"
    lock.write_text(f"{_dead_pid()}\n" if pid_file == "dead process" else "")
    result = run(server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert_dataset_ok(tmp_path, coco_mini)   # and the lock file is gone


@pytest.mark.parametrize("owner", ["dead process", "empty", "this run"])
def test_lock_folder_without_flock(server, tmp_path, coco_mini, owner):
    """Where flock is missing (macOS) the lock is a folder holding the owner's
    process id; a killed run's folder is taken over, also when this run got
    the killed run's process id."""
    dest = tmp_path / "data"
    lock = dest / ".coco_captioning.lock.d"
    lock.mkdir(parents=True)
    if owner == "dead process":
        (lock / "pid").write_text(f"{_dead_pid()}\n")
    path = restricted_path(tmp_path, {"flock"})
    if owner == "this run":   # the script runs as the very process whose id the lock holds
        env = {k: v for k, v in os.environ.items() if k != "COCO_CAPTIONING_SHA256"}
        env.update(COCO_CAPTIONING_URL=server.url, CS231N_DATASETS_DIR=str(dest), PATH=path,
                   NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
        result = subprocess.run(["bash", "-c", 'echo $$ > "$1/pid"; exec bash "$2"', "_", str(lock), str(SCRIPT)],
                                env=env, capture_output=True, text=True, timeout=60)
    else:
        result = run(server.url, dest, PATH=path)
    assert result.returncode == 0, result.stderr
    assert "removing the lock of an earlier run that was killed outright" in result.stdout
    assert_dataset_ok(dest, coco_mini)


def test_second_run_without_flock_is_refused_too(server, tmp_path):
    lock = tmp_path / ".coco_captioning.lock.d"
    lock.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (lock / "pid").write_text(f"{sleeper.pid}\n")
        tools = tmp_path.parent / (tmp_path.name + "-tools")
        tools.mkdir()
        result = run(server.url, tmp_path, PATH=restricted_path(tools, {"flock"}))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.returncode != 0 and f"another run of get_datasets.sh (process {sleeper.pid})" in result.stderr
    assert server.requests == []


def test_help_and_unknown_argument(tmp_path):
    shown = run("http://127.0.0.1:9/never", tmp_path, "--help")
    assert shown.returncode == 0
    assert shown.stdout.startswith("Usage: bash get_datasets.sh")
    assert "COCO_CAPTIONING_URL" in shown.stdout and "CS231N_DATASETS_DIR" in shown.stdout
    bad = run("http://127.0.0.1:9/never", tmp_path, "--bogus")
    assert bad.returncode == 2
    assert "unknown argument: --bogus" in bad.stderr and "Usage:" in bad.stderr
    assert "stopped unexpectedly" not in bad.stderr
    too_many = run("http://127.0.0.1:9/never", tmp_path, "--offline", "extra")
    assert too_many.returncode == 2 and "Usage:" in too_many.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _stderr_until(url, tmp_path, words, timeout=40):
    """Run the script against url until its stderr holds words (then stop it): that stderr."""
    env = dict(os.environ, COCO_CAPTIONING_URL=url, CS231N_DATASETS_DIR=str(tmp_path / "data"),
               NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    env.pop("COCO_CAPTIONING_SHA256", None)
    log = tmp_path / "stderr"
    with open(log, "w") as err:
        proc = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + timeout
        while words not in log.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    return log.read_text()


def test_a_server_that_stops_sending_is_said_to(server, tmp_path):
    """A stalled download is not a frozen script: the progress line says how
    long no data came and what happens next."""
    server.throttle = 30          # the first 64 KB, then nothing for 30 s
    text = _stderr_until(server.url, tmp_path, "no data for")
    line = next(l for l in text.splitlines() if "no data for" in l)
    assert re.fullmatch(r"  0\.1 MB of \d+\.\d MB \(\d+%\) \(no data for \d+ s; after 60 s it is tried "
                        r"again, 3 times\)", line), line


def test_a_server_that_never_answers_is_said_to_be_waited_for(tmp_path):
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)                 # accepts the connection (the kernel does) and never answers
    try:
        text = _stderr_until("http://127.0.0.1:%d/coco_captioning.zip" % srv.getsockname()[1], tmp_path, "waiting")
    finally:
        srv.close()
    assert re.search(r"^  0\.0 MB \(waiting \d+ s for the server to answer\)$", text, re.M), text
    assert "no data for" not in text
