#!/usr/bin/env bash
# The Debian packages `make demo` and `make test` need besides Python and Go: openssl (the
# dev cluster's certificates), prometheus (the real Prometheus the demo's analysis and
# the integration tests scrape runtime processes with) and git (promotions through Git:
# the operator runs it, the tests serve repositories with git http-backend), buildah and
# mmdebstrap (the images). Installs what is missing; a no-op
# when everything is there. Used by the Makefile and by .ci/run, so a fresh machine gets
# the same set either way.
set -euo pipefail

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v git >/dev/null || missing+=(git)
# the images (make images, tests/integration/test_images.py): built without a daemon
command -v buildah >/dev/null || missing+=(buildah)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    sudo="sudo"
  else
    echo "system-deps: missing ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo "system-deps: installing ${missing[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
