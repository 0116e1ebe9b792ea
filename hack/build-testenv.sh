#!/usr/bin/env bash
# Builds the local control plane from published Go modules and caches it.
#
# Why from source: no container engine and no release-binary downloads exist on
# our machines or in CI; the Go module proxy does. See docs/testenv.md.
#
# Output: the cache directory path on the last line of stdout. Progress goes to
# stderr. Re-running with a warm cache prints the path at once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

say() { printf '[testenv] %s\n' "$*" >&2; }
die() { printf '[testenv] error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "Go is not installed (need Go >= 1.26 on PATH to build kube-apiserver, etcd and kwok from modules). Install it and run again; the tests can also use an existing cluster instead: MODELSHIP_TEST_KUBECONFIG=/path/to/kubeconfig (docs/testenv.md)."

key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_gw-${GATEWAY_API_VERSION}_helm-${HELM_VERSION}"
cache_root="${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}"
cache="$cache_root/$key"
bin="$cache/bin"
mkdir -p "$bin" "$cache/src"

# One builder at a time: the demo and the test suite may both ask for a build.
exec 9>"$cache/.lock"
flock 9

export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"

want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)
# A cached binary that cannot print its version is damaged (a copy cut short dies
# with SIGSEGV before its first log line): drop it so it is built again.
version_args() {
  case "$1" in
    kubectl) echo "version --client" ;;
    helm) echo "version --short" ;;
    *) echo "--version" ;;
  esac
}
for b in "${want[@]}"; do
  [[ -x "$bin/$b" ]] || continue
  # shellcheck disable=SC2046 # the arguments are meant to split
  rc=0; (timeout 30 "$bin/$b" $(version_args "$b")) >/dev/null 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    say "cached $b does not run (exit status $rc); rebuilding it"
    rm -f "$bin/$b"
  fi
done
missing=()
for b in "${want[@]}"; do [[ -x "$bin/$b" ]] || missing+=("$b"); done
have_assets=1
[[ -d "$cache/gateway-api-crds" && -d "$cache/kwok-stages" ]] || have_assets=0
if [[ ${#missing[@]} -eq 0 && $have_assets -eq 1 ]]; then
  echo "$cache"; exit 0
fi

say "cache: $cache"
say "first build of the local control plane; this takes several minutes on 2 cores (later runs reuse the cache)"
if ! go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" >/dev/null 2>"$cache/src/probe.err"; then
  die "the Go module proxy is unreachable or refuses k8s.io/kubernetes@${KUBERNETES_VERSION}: $(tail -3 "$cache/src/probe.err")"
fi

module_dir() { # name -> fresh module directory with a go.mod
  local d="$cache/src/$1"
  mkdir -p "$d"
  printf 'module modelship.local/testenv/%s\n\ngo 1.26\n' "$1" >"$d/go.mod"
  echo "$d"
}

build() { # dir, output dir, packages...
  local d="$1" out="$2"; shift 2
  local tmp="$cache/src/out.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  (cd "$d" && go build -trimpath -ldflags "${LDFLAGS:--s -w}" -o "$tmp/" "$@") \
    || die "go build of $* failed (see the output above)"
  mv "$tmp"/* "$out/"; rm -rf "$tmp"
}

step=0; total=5
progress() { step=$((step+1)); say "[$step/$total] $* ($(date +%H:%M:%S))"; }

if [[ ! -x "$bin/etcd" ]]; then
  progress "building etcd ${ETCD_VERSION}"
  d="$(module_dir etcd)"
  (cd "$d" && go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}")
  build "$d" "$bin" go.etcd.io/etcd/server/v3
  # go names a /v3 module's binary after the element before the suffix.
  mv "$bin/server" "$bin/etcd"
else progress "etcd cached"; fi

k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
need_k8s=0
for b in "${k8s_bins[@]}"; do [[ -x "$bin/$b" ]] || need_k8s=1; done
if [[ $need_k8s -eq 1 ]]; then
  progress "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl ${KUBERNETES_VERSION} (the long one)"
  d="$(module_dir kubernetes)"
  gomod="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  args=(-require="k8s.io/kubernetes@${KUBERNETES_VERSION}")
  # Each staging module is a `=> ./staging/...` replace in kubernetes' own go.mod;
  # outside that repository they must point at their published versions.
  while read -r mod; do
    args+=(-replace="$mod=$mod@$staging_version")
  done < <(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")
  (cd "$d" && go mod edit "${args[@]}")
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=${KUBERNETES_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${minor}"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  LDFLAGS="$ld" build "$d" "$bin" $(printf 'k8s.io/kubernetes/cmd/%s ' "${k8s_bins[@]}")
else progress "kubernetes binaries cached"; fi

if [[ ! -x "$bin/kwok" ]]; then
  progress "building kwok ${KWOK_VERSION}"
  d="$(module_dir kwok)"
  (cd "$d" && go mod edit -require="sigs.k8s.io/kwok@${KWOK_VERSION}")
  build "$d" "$bin" sigs.k8s.io/kwok/cmd/kwok
else progress "kwok cached"; fi

if [[ ! -x "$bin/helm" ]]; then
  progress "building helm ${HELM_VERSION}"
  d="$(module_dir helm)"
  (cd "$d" && go mod edit -require="helm.sh/helm/v3@${HELM_VERSION}")
  build "$d" "$bin" helm.sh/helm/v3/cmd/helm
else progress "helm cached"; fi

progress "collecting Gateway API ${GATEWAY_API_VERSION} CRDs and kwok stage configs"
gw="$(go mod download -json "sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
rm -rf "$cache/gateway-api-crds.tmp"; mkdir -p "$cache/gateway-api-crds.tmp"
cp "$gw"/config/crd/standard/*.yaml "$cache/gateway-api-crds.tmp/"
rm -rf "$cache/gateway-api-crds"; mv "$cache/gateway-api-crds.tmp" "$cache/gateway-api-crds"
kw="$(go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
rm -rf "$cache/kwok-stages.tmp"; mkdir -p "$cache/kwok-stages.tmp"
cp -r "$kw"/kustomize/stage/. "$cache/kwok-stages.tmp/"
chmod -R u+w "$cache/kwok-stages.tmp"
rm -rf "$cache/kwok-stages"; mv "$cache/kwok-stages.tmp" "$cache/kwok-stages"

say "done: $(ls "$bin" | tr '\n' ' ')"
echo "$cache"
