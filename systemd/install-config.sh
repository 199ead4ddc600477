#!/bin/sh
# Run by `meson install` (systemd/meson.build) after the files are in place: copies the example
# configuration to gateway.json when there is none. install_data() would overwrite the site's own
# file at every reinstall. Honours DESTDIR (meson makes it absolute and exports it).
# $1: the configuration directory (<sysconfdir>/coldchain), $2: the example's name in it.
set -eu

dir="${DESTDIR:-}$1"
example="$dir/$2"
config="$dir/gateway.json"
tmp="$dir/.gateway.json.$$"

say() {
    if [ -z "${MESON_INSTALL_QUIET:-}" ]; then
        echo "$@"
    fi
}

# Written under a temporary name and hard-linked into place: ln refuses an existing gateway.json,
# so not even a file created meanwhile is overwritten, and an interrupted install leaves no
# half-written gateway.json that the next install would keep.
cp "$example" "$tmp"
chmod 0644 "$tmp"
if ln "$tmp" "$config" 2>/dev/null; then
    say "Installing $example to $config"
else
    say "Keeping $config (the example is $example)"
fi
rm -f "$tmp"
