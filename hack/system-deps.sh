#!/usr/bin/env bash
# The Debian packages `make demo` and `make test` need besides Python and Go: openssl (the
# dev cluster's certificates), prometheus (the real Prometheus the demo's analysis and
# the integration tests scrape runtime processes with) and git (promotions through Git:
# the operator runs it, the tests serve repositories with git http-backend), buildah and
# mmdebstrap (the images), chromium (the dashboard's browser tests drive it headless).
# Installs what is missing; a no-op when everything is there.
# Used by the Makefile and by .ci/run, so a fresh machine gets the same set either way.
#
#   system-deps.sh        everything (make test, make images, CI); fails if any is missing
#   system-deps.sh demo   what `make demo` uses: openssl, which it cannot do without, and
#                         prometheus, without which it skips its analysis part (saying how
#                         to install it) and still shows the rest
set -euo pipefail

case "${1:-all}" in
  all) required=(openssl prometheus git buildah mmdebstrap chromium) optional=() ;;
  demo) required=(openssl) optional=(prometheus) ;;
  *) echo "system-deps: unknown set '$1' (demo, or none for everything)" >&2; exit 2 ;;
esac

# Each package installs the command of its name.
absent() { for c in "$@"; do command -v "$c" >/dev/null || echo "$c"; done; }
mapfile -t missing < <(absent "${required[@]}" "${optional[@]}")
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
can_install=yes
if ! command -v apt-get >/dev/null; then
  can_install=no  # not Debian: said below, with the package names
elif [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else can_install=no; fi
fi
if [ "$can_install" = yes ]; then
  echo "system-deps: installing ${missing[*]} (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get update -qq &&
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "system-deps: installing ${missing[*]} failed (see above)" >&2
  fi
fi

how() { echo "as root: apt-get install $*"; }
mapfile -t still_required < <(absent "${required[@]}")
if [ ${#still_required[@]} -gt 0 ]; then
  echo "system-deps: missing ${still_required[*]}; install $(how "${still_required[@]}")" >&2
  exit 1
fi
mapfile -t still_optional < <(absent "${optional[@]}")
if [ ${#still_optional[@]} -gt 0 ]; then
  echo "system-deps: missing ${still_optional[*]}: the demo skips its analysis part (a canary" \
    "that analysis rolls back); to have it, install $(how "${still_optional[@]}")," \
    "then run make demo again" >&2
fi
exit 0
