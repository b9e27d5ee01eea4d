#!/usr/bin/env bash
# Install rcmd's systemd unit, udev rules and tmpfiles snippet (after `pip install rcm`).
#   sudo packaging/install.sh                # into /etc (an admin's local install)
#   DESTDIR=/tmp/root packaging/install.sh   # staged, for packagers
# The same files travel in the installed package (import name rcm_packaging): run
#   sudo bash "$(python3 -c 'import rcm_packaging; print(list(rcm_packaging.__path__)[0])')/install.sh"
# A distribution package puts them under /usr/lib instead (udev/rules.d, systemd/system,
# tmpfiles.d: docs/udev.md); the admin's own policy rules go in /etc/udev/rules.d.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rcmd="${RCMD:-$(command -v rcmd || true)}"
if [ -z "$rcmd" ]; then
    echo "install.sh: rcmd is not on PATH; pip install rcm first, or set RCMD=/path/to/rcmd" >&2
    exit 1
fi
dest="${DESTDIR:-}"
install -d "$dest/etc/systemd/system" "$dest/etc/udev/rules.d" "$dest/etc/tmpfiles.d" \
    "$dest/etc/rcm/interfaces"
sed "s|@RCMD@|$rcmd|g" "$here/rcmd.service" > "$dest/etc/systemd/system/rcmd.service"
chmod 0644 "$dest/etc/systemd/system/rcmd.service"
install -m 0644 "$here/90-rcm.rules" "$dest/etc/udev/rules.d/90-rcm.rules"
install -m 0644 "$here/rcm.tmpfiles.conf" "$dest/etc/tmpfiles.d/rcm.conf"
if [ -z "$dest" ] && command -v systemctl >/dev/null; then
    systemd-tmpfiles --create /etc/tmpfiles.d/rcm.conf || true
    if command -v udevadm >/dev/null; then udevadm control --reload || true; fi
    systemctl daemon-reload
    echo "installed; enable with: systemctl enable --now rcmd"
else
    echo "installed under ${dest:-/}"
fi
