#!/usr/bin/env bash
# Install rcmd's systemd unit and udev rule (after `pip install rcm`).
#   sudo packaging/install.sh            # into /etc
#   DESTDIR=/tmp/root packaging/install.sh   # staged, for packagers
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rcmd="${RCMD:-$(command -v rcmd || true)}"
if [ -z "$rcmd" ]; then
    echo "install.sh: rcmd is not on PATH; pip install rcm first, or set RCMD=/path/to/rcmd" >&2
    exit 1
fi
dest="${DESTDIR:-}"
install -d "$dest/etc/systemd/system" "$dest/etc/udev/rules.d" "$dest/etc/rcm/interfaces"
sed "s|@RCMD@|$rcmd|g" "$here/rcmd.service" > "$dest/etc/systemd/system/rcmd.service"
chmod 0644 "$dest/etc/systemd/system/rcmd.service"
install -m 0644 "$here/90-rcm.rules" "$dest/etc/udev/rules.d/90-rcm.rules"
if [ -z "$dest" ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    echo "installed; enable with: systemctl enable --now rcmd"
else
    echo "installed under ${dest:-/}"
fi
