#!/usr/bin/env bash
# Installs the desktop app's .deb on a clean Debian 12 system and launches it under Xvfb: the
# by-hand check of scripts/build-deb.sh's package (not in CI: it needs root and a few minutes of
# downloads). The clean system is a chroot made with debootstrap (minbase: no X, no GTK, no
# WebKit), so whatever the package fails to declare is missing there.
#
# Usage (as root): scripts/check-deb-install.sh DEB [CHROOT]
#   CHROOT defaults to /srv/atb-clean; made with debootstrap when absent, copied fresh each run.
set -euo pipefail

deb=$(realpath "${1:?usage: scripts/check-deb-install.sh DEB [CHROOT]}")
base=${2:-/srv/atb-clean}
if [ "$(id -u)" -ne 0 ]; then
  echo "check-deb-install: run as root (chroot, mounts and apt inside it need it)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
if [ ! -x "$base/usr/bin/apt-get" ]; then
  echo "check-deb-install: making a clean Debian 12 (minbase) in $base" >&2
  debootstrap --variant=minbase bookworm "$base" http://deb.debian.org/debian >&2
fi

# Each run on a fresh copy, so one check cannot leave what the next one needs.
root=$(mktemp -d /srv/atb-check.XXXXXX)
# Only private mounts (debootstrap made the device nodes): nothing of the host's /dev or /sys is
# bound inside, and the removal never crosses a mount.
cleanup() {
  for m in dev/shm dev/pts proc; do umount "$root/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
cp -a "$base/." "$root/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/dev/shm"
cp "$deb" "$root/tmp/"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

echo "check-deb-install: apt-get install ./$(basename "$deb") (its declared dependencies only)" >&2
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/tmp/$(basename "$deb")" >&2
echo "check-deb-install: installed:" >&2
in_root dpkg -L atb | grep -E 'bin/|\.desktop$|icons|lib/atb' >&2
in_root ldd /usr/bin/atb-desktop | grep 'not found' && { echo "missing libraries" >&2; exit 1; }
in_root sh -c 'ldd /usr/lib/atb/libonnxruntime.so.*' | grep 'not found' \
  && { echo "ONNX Runtime misses libraries" >&2; exit 1; }

# The test's own tools (not the app's dependencies): a display and a screenshot.
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  xvfb xauth imagemagick >&2
in_root sh -c '
  set -e
  export XDG_RUNTIME_DIR=$(mktemp -d) ATB_HOME=$(mktemp -d) WEBKIT_DISABLE_DMABUF_RENDERER=1
  Xvfb :77 -screen 0 1280x860x24 -nolisten tcp 2>/dev/null & xvfb=$!
  sleep 2
  DISPLAY=:77 atb-desktop 2>/tmp/app.log & app=$!
  for i in $(seq 1 120); do
    grep -q "the UI called app_info" /tmp/app.log && break
    sleep 1
  done
  sleep 5
  DISPLAY=:77 import -window root /tmp/screen.png
  kill $app $xvfb 2>/dev/null || true
  cat /tmp/app.log
  grep -q "the UI called app_info" /tmp/app.log
  echo "colours in the screenshot: $(identify -format %k /tmp/screen.png)"
' >&2
cp "$root/tmp/screen.png" /tmp/atb-deb-clean-screen.png
echo "check-deb-install: the app loaded its UI on a clean Debian 12; screenshot /tmp/atb-deb-clean-screen.png" >&2
