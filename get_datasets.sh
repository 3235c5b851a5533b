#!/usr/bin/env bash
# Fetch the data used by the RNN captioning notebooks.
#
# With no argument: download the official CS231n COCO captioning archive, check it, and unpack it
# into datasets/coco_captioning/. Safe to run again at any time: an interrupted download resumes,
# a complete dataset is left alone, and a failed run never leaves a half-unpacked dataset behind.
# A partial download is resumed only from the URL it came from, and a second run started while
# one is fetching into the same folder stops at once, saying so.
# With --offline: build the project's own small offline dataset instead (no network needed).
set -euo pipefail

PROG="get_datasets.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_URL="http://cs231n.stanford.edu/coco_captioning.zip"
URL="${COCO_CAPTIONING_URL:-$DEFAULT_URL}"
ROOT="${CS231N_DATASETS_DIR:-$HERE/datasets}"
DEST="$ROOT/coco_captioning"      # the finished dataset
ZIP="$ROOT/coco_captioning.zip"   # a complete download, not yet unpacked
PART="$ZIP.part"                  # a download in progress (kept between runs, to resume)
PART_URL="$PART.url"              # the URL that $PART comes from (a .part of another URL is not resumed)
LOCK="$ROOT/.coco_captioning.lock" # held (flock) by the run that is fetching; holds its process id
LOCK_DIR="$LOCK.d"                 # the same without flock: a folder (mkdir is atomic)
EXPECTED=(coco2014_captions.h5 coco2014_vocab.json train2014_urls.txt val2014_urls.txt
  train2014_vgg16_fc7.h5 val2014_vgg16_fc7.h5 train2014_vgg16_fc7_pca.h5 val2014_vgg16_fc7_pca.h5)

usage() {
  cat <<EOF
Usage: bash get_datasets.sh [--offline] [--force] | --help

  (no argument)  download the CS231n COCO captioning data into datasets/coco_captioning/
  --offline      build the project's offline dataset (datasets/offline_captioning/) instead
  --force        fetch (or build) it again even if a complete copy is there, for a copy
                 whose files are damaged (the old COCO copy is moved aside, not deleted;
                 the offline set is rebuilt in its place)
  -h, --help     show this help

Environment variables:
  COCO_CAPTIONING_URL     archive to download (default: $DEFAULT_URL)
  COCO_CAPTIONING_SHA256  expected SHA-256 of the archive (64 hex digits, or a sha256sum line);
                          checked when set
  CS231N_DATASETS_DIR     folder that receives the data, COCO or offline (default: datasets/
                          next to this script)
  PYTHON                  Python to use (default: .venv/bin/python next to this script, else python3)
EOF
}

# Every failure goes through die: one message saying what went wrong and what to do.
REPORTED="" WORK="" PROGRESS_PID="" DL_PID="" LOCKED=""
die()  { REPORTED=1; printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
info() { printf '%s: %s\n' "$PROG" "$*"; }
stop() { if [[ -n $1 ]]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
on_exit() {  # runs on every exit: stop the background jobs, remove temporary files (never .part)
  local rc=$?
  stop "$DL_PID"; stop "$PROGRESS_PID"
  [[ -z $WORK ]] || rm -rf "$WORK"
  case $LOCKED in flock) rm -f "$LOCK" ;; dir) rm -rf "$LOCK_DIR" ;; esac
  if ((rc != 0)) && [[ -z $REPORTED ]]; then
    printf '%s: error: stopped unexpectedly (exit code %s); see the message above, then run again\n' "$PROG" "$rc" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT
interrupted() { REPORTED=1; printf '\n%s: interrupted; run it again to continue (a download resumes)\n' "$PROG" >&2; exit "$1"; }
trap 'interrupted 130' INT; trap 'interrupted 143' TERM

pick_python() {
  if [[ -n ${PYTHON:-} ]]; then printf '%s\n' "$PYTHON"
  elif [[ -x $HERE/.venv/bin/python ]]; then printf '%s\n' "$HERE/.venv/bin/python"
  else command -v python3 || true; fi
}
size_of() { if [[ -f $1 ]]; then wc -c <"$1" | tr -d ' '; else echo 0; fi; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
missing_in() {  # list the expected files that are absent or empty in folder $1
  local f; for f in "${EXPECTED[@]}"; do [[ -s $1/$f ]] || printf ' %s' "$f"; done
}

running() {  # is process $1 alive (and not this very run, whose id a killed run may have had)?
  [[ $1 =~ ^[0-9]+$ && $1 != "$$" ]] && { kill -0 "$1" 2>/dev/null || ps -p "$1" >/dev/null 2>&1; }
}
busy() {
  die "another run of $PROG (process ${1:-unknown}) is already fetching the data into $ROOT, or a download it started is still going. Wait for it to finish, or stop it, then run again"
}
take_lock() {  # one run at a time per folder: two would write the same .part and unpack folder
  local pid i
  if command -v flock >/dev/null; then
    # The kernel drops the lock when the run ends, however it ends; the downloader holds it too.
    { exec 9>>"$LOCK"; } 2>/dev/null || die "cannot write in $ROOT (no permission, or disk full?); fix that or set CS231N_DATASETS_DIR, then run again"
    flock -n 9 || busy "$(head -n 1 "$LOCK" 2>/dev/null || true)"
    LOCKED=flock
    printf '%s\n' "$$" >"$LOCK"
    return 0
  fi
  if ! mkdir "$LOCK_DIR" 2>/dev/null; then  # no flock (macOS): a folder with the owner's process id
    [[ -d $LOCK_DIR ]] || die "cannot write in $ROOT (no permission, or disk full?); fix that or set CS231N_DATASETS_DIR, then run again"
    for i in 1 2 3 4 5 6 7 8 9 10; do  # a run that has just made the folder writes its id next
      pid=$(cat "$LOCK_DIR/pid" 2>/dev/null || true); [[ -z $pid ]] || break; sleep 0.1
    done
    if running "$pid"; then busy "$pid"; fi
    info "removing the lock of an earlier run that was killed outright${pid:+ (process $pid)}"
    rm -rf "$LOCK_DIR"
    mkdir "$LOCK_DIR" 2>/dev/null || busy ""
  fi
  LOCKED=dir
  printf '%s\n' "$$" >"$LOCK_DIR/pid"
}

offline() {
  local py target=(); py="$(pick_python)"
  command -v "$py" >/dev/null || die "no Python found: install Python 3 or set PYTHON=/path/to/python, then run again"
  # the builder's own default is datasets/offline_captioning next to this script
  if [[ -n ${CS231N_DATASETS_DIR:-} ]]; then target=("$ROOT/offline_captioning"); fi
  info "building the offline dataset: $py -m cs231n.offline_data ${target[*]+${target[*]} }$*"
  (cd "$HERE" && "$py" -m cs231n.offline_data ${target[@]+"${target[@]}"} "$@") ||
    die "building the offline dataset failed (exit code $?); see the messages above"
  if [[ -n ${CS231N_DATASETS_DIR:-} ]]; then
    info "load_coco_data() looks in datasets/ by default: set CS231N_COCO_DIR=$ROOT/offline_captioning (or pass base_dir) to use this copy"
  fi
}

read_sha256() {  # SHA256: COCO_CAPTIONING_SHA256 as 64 lower-case hex digits (the first word of a sha256sum line), or empty
  SHA256=$(printf '%s' "${COCO_CAPTIONING_SHA256:-}" | awk 'NF { print tolower($1); exit }')
  [[ -z $SHA256 || $SHA256 =~ ^[0-9a-f]{64}$ ]] ||
    die "COCO_CAPTIONING_SHA256 must be the archive's SHA-256, 64 hexadecimal digits (or a line of sha256sum output); got '${COCO_CAPTIONING_SHA256}'. Fix or unset it, then run again"
}

total_size() {  # the archive's full size, read from the response headers saved by curl or wget
  [[ -f $WORK/headers ]] || return 0
  awk '{ l = tolower($0); sub(/\r$/, "", l) }
    l ~ /^ *http\// { cl = ""; cr = "" }
    l ~ /^ *content-length:/ { split(l, a, ":"); cl = a[2] + 0 }
    l ~ /^ *content-range:/ { n = split(l, a, "/"); cr = a[n] + 0 }
    END { if (cr != "") printf "%.0f\n", cr; else if (cl != "") printf "%.0f\n", cl }' "$WORK/headers"
}
show_progress() {  # runs in the background during the download
  local now total n=0 last=-1 still=0 wait=""
  while sleep 0.5 >/dev/null 2>&1; do  # (so that a leftover sleep holds no output pipe open)
    now=$(size_of "$PART"); total=$(total_size); n=$((n + 1))
    if ((now == last)); then still=$((still + 1)); else still=0; last=$now; fi
    # a server that stops sending: say so (the downloader gives up after 60 s, then tries again)
    wait=""
    if ((still >= 10)) && [[ -s $WORK/headers ]]; then wait=" (no data for $((still / 2)) s; after 60 s it is tried again, 3 times)"
    elif ((still >= 10)); then wait=" (waiting $((still / 2)) s for the server to answer)"; fi
    if [[ -n $total ]] && ((total > 0)); then total=" of $(mb "$total") ($((now * 100 / total))%)"; fi
    if [[ -t 2 ]]; then printf '\r  %s%s%s   ' "$(mb "$now")" "$total" "$wait" >&2
    elif ((n % 20 == 0)); then printf '  %s%s%s\n' "$(mb "$now")" "$total" "$wait" >&2; fi
  done
}

download() {  # fetch $URL into $PART (resuming it if present), then rename it to $ZIP
  local tool rc code="" have attempt
  if command -v curl >/dev/null; then tool=curl; else tool=wget; fi
  if [[ -f $PART && -f $PART_URL && $(cat "$PART_URL") != "$URL" ]]; then
    info "the partial download $PART came from $(cat "$PART_URL"), not $URL; starting again from the beginning"
    rm -f "$PART"
  fi
  printf '%s\n' "$URL" >"$PART_URL"
  for attempt in 1 2; do
    have=$(size_of "$PART"); rm -f "$WORK/headers"
    if ((have > 0)); then info "resuming the download of $URL at $(mb "$have")"
    else info "downloading $URL"; fi
    show_progress & PROGRESS_PID=$!
    # The downloader runs in the background so that a signal stops this script (and it) at once.
    if [[ $tool == curl ]]; then
      curl --fail --location --silent --connect-timeout 30 --retry 3 --retry-delay 5 \
        --speed-limit 1000 --speed-time 60 --continue-at - --dump-header "$WORK/headers" \
        --write-out '%{http_code}' --output "$PART" "$URL" >"$WORK/code" &
    else
      wget --continue --tries=4 --waitretry=5 --connect-timeout=30 --read-timeout=60 \
        --no-verbose --server-response --output-file="$WORK/headers" \
        --output-document="$PART" "$URL" &
    fi
    DL_PID=$!; rc=0; wait "$DL_PID" || rc=$?; DL_PID=""
    code=$(cat "$WORK/code" 2>/dev/null || true)
    stop "$PROGRESS_PID"; PROGRESS_PID=""; if [[ -t 2 ]]; then printf '\n' >&2; fi
    # curl 33: the server ignored the resume request; start again from zero, once.
    [[ $tool:$rc == curl:33 && $attempt == 1 ]] || break
    info "the server cannot resume downloads; starting again from the beginning"; rm -f "$PART"
  done
  # HTTP 416 on a resume: the server has nothing past our bytes, so the download was complete.
  if [[ $tool:$rc:$code == curl:22:416 ]] && ((have > 0)); then rc=0; fi
  if ((rc == 0)); then info "downloaded $(mb "$(size_of "$PART")")"; mv -f "$PART" "$ZIP"; rm -f "$PART_URL"; return 0; fi
  have=$(size_of "$PART"); ((have > 0)) || rm -f "$PART" "$PART_URL"
  local again="run this script again" total; total=$(total_size)
  case $tool:$rc in
    curl:6) die "cannot resolve the host name in $URL (no network or DNS?). Check your internet connection, then $again; with no network, build the offline set instead: bash get_datasets.sh --offline" ;;
    curl:7 | curl:18 | curl:28 | curl:35 | curl:52 | curl:55 | curl:56 | wget:4)
      ((have == 0)) || die "the download was interrupted after $(mb "$have")${total:+ of $(mb "$total")} (connection lost or timed out). Check your connection, then $again: it resumes where it stopped"
      die "cannot connect to download $URL (connection refused, timed out or no network). Check your internet connection or proxy (or set COCO_CAPTIONING_URL to a reachable copy), then $again; with no network, build the offline set instead: bash get_datasets.sh --offline" ;;
    curl:22 | wget:8)
      die "the server refused the download${code:+ (HTTP $code)} of $URL. The file may have moved: set COCO_CAPTIONING_URL to a working copy, then $again" ;;
    curl:23 | wget:3)
      die "cannot write $PART (disk full, or no permission?). Free some space in $ROOT (or set CS231N_DATASETS_DIR to a roomier place), then $again" ;;
    *) die "the download of $URL failed ($tool exit code $rc). Check your internet connection, then $again" ;;
  esac
}

zip_do() {  # zip_do test|list|size|extract DIR: done with unzip if installed, else Python's zipfile
  if command -v unzip >/dev/null; then
    case $1 in
      test) unzip -tqq "$ZIP" >/dev/null 2>&1 ;;
      list) unzip -Z1 "$ZIP" ;;
      size) unzip -Zt "$ZIP" | awk '{ print $3 }' ;;
      extract) unzip -qq "$ZIP" -d "$2" ;;
    esac
  else
    "$(pick_python)" - "$ZIP" "$@" <<'EOF'
import sys, zipfile
path, op = sys.argv[1], sys.argv[2]
try:
    with zipfile.ZipFile(path) as z:
        if op == "test": sys.exit(0 if z.testzip() is None else 1)
        elif op == "list": print("\n".join(z.namelist()))
        elif op == "size": print(sum(i.file_size for i in z.infolist()))
        elif op == "extract": z.extractall(sys.argv[3])
except Exception as e:
    sys.exit(f"{type(e).__name__}: {e}")
EOF
  fi
}

check_archive() {  # refuse an archive that is corrupt, incomplete or not the expected one
  local why="" sum f names missing="" want="$SHA256"
  if [[ -n $want ]]; then
    if command -v sha256sum >/dev/null; then sum=$(sha256sum "$ZIP" | awk '{ print $1 }')
    else sum=$(shasum -a 256 "$ZIP" | awk '{ print $1 }'); fi
    if [[ $sum != "$want" ]]; then  # a whole archive, maybe another version of it: kept for a look
      mv -f "$ZIP" "$ZIP.bad"
      die "the archive's SHA-256 is $sum, not the expected $want. It was kept as $ZIP.bad (not used). If COCO_CAPTIONING_SHA256 is right, the copy at $URL is not the expected one: set COCO_CAPTIONING_URL to another copy; if the archive is right, fix COCO_CAPTIONING_SHA256. Then run this script again"
    fi
  fi
  if [[ -z $why ]] && ! zip_do test 2>/dev/null; then why="it is corrupt or incomplete (zip integrity test failed)"; fi
  if [[ -z $why ]]; then
    names=$(zip_do list)
    for f in "${EXPECTED[@]}"; do grep -qxF "coco_captioning/$f" <<<"$names" || missing+=" coco_captioning/$f"; done
    [[ -z $missing ]] || why="it lacks expected files:$missing"
  fi
  [[ -n $why ]] || return 0
  rm -f "$ZIP"
  die "the archive is invalid: $why. It was deleted; run this script again to download it afresh (if this keeps happening, the copy at $URL is bad: set COCO_CAPTIONING_URL to another copy)"
}

unpack() {  # unzip beside the destination, then move the finished folder into place in one step
  local need avail old
  need=$(zip_do size); avail=$(df -Pk "$ROOT" | awk 'NR == 2 { printf "%.0f\n", $4 * 1024 }')
  if [[ -n $avail ]] && ((need > avail)); then
    die "not enough disk space in $ROOT: unpacking needs $(mb "$need") but only $(mb "$avail") is free. Free some space, then run this script again (the archive is kept)"
  fi
  info "unpacking into $DEST"
  mkdir "$WORK/unpack"
  zip_do extract "$WORK/unpack" 2>"$WORK/unpack.log" ||
    die "unpacking $ZIP failed ($(tail -n 1 "$WORK/unpack.log")). Is the disk full? Free some space, then run this script again (the archive is kept)"
  [[ -z $(missing_in "$WORK/unpack/coco_captioning") ]] ||
    die "unpacking $ZIP gave an incomplete folder (missing:$(missing_in "$WORK/unpack/coco_captioning")); run this script again"
  if [[ -e $DEST ]]; then  # an older copy (incomplete, or replaced with --force): keep it aside rather than delete anyone's files
    old="$DEST.old-$(date +%Y%m%d-%H%M%S)"; mv "$DEST" "$old"; info "moved the older copy $DEST aside to $old"
  fi
  mv "$WORK/unpack/coco_captioning" "$DEST"
  rm -f "$ZIP"
}

# ---- main ------------------------------------------------------------------------------------
MODE=coco FORCE=""
for arg in "$@"; do
  case $arg in
    --offline) MODE=offline ;;
    --force) FORCE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) REPORTED=1; printf '%s: unknown argument: %s\n\n' "$PROG" "$arg" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ $MODE == offline ]]; then offline ${FORCE:+--force}; exit 0; fi
read_sha256   # a malformed one is refused before any download

if [[ -d $DEST && -z $(missing_in "$DEST") && -z $FORCE ]]; then
  info "the COCO captioning data is already in $DEST; nothing to do (--force fetches it again)"; exit 0
fi
command -v curl >/dev/null || command -v wget >/dev/null ||
  die "neither curl nor wget is installed; install one (e.g. 'sudo apt-get install curl'), then run again"
command -v unzip >/dev/null || command -v "$(pick_python)" >/dev/null ||
  die "neither unzip nor python3 is installed; install one (e.g. 'sudo apt-get install unzip'), then run again"
mkdir -p "$ROOT" 2>/dev/null || die "cannot create $ROOT; check the path and its permissions, or set CS231N_DATASETS_DIR"
take_lock
rm -rf "$ROOT"/.coco_captioning.tmp.*  # left by a run that was killed outright (kill -9, power loss)
WORK=$(mktemp -d "$ROOT/.coco_captioning.tmp.XXXXXX" 2>/dev/null) ||
  die "cannot write in $ROOT (no permission, or disk full?); fix that or set CS231N_DATASETS_DIR, then run again"

if [[ -f $ZIP ]]; then info "using the archive already downloaded: $ZIP"; else download; fi
check_archive
unpack
info "done: the COCO captioning data is in $DEST"
if [[ $ROOT != "$HERE/datasets" ]]; then
  info "load_coco_data() looks in datasets/coco_captioning/ by default: set CS231N_COCO_DIR=$DEST (or pass base_dir) to use this copy"
fi
