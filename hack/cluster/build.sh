#!/usr/bin/env bash
# Build the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, helm) from Go modules.
#
# Binaries and Go caches live outside the work tree, under
#   ${KUBELESS_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeless-fastapi}
# with the binaries in a directory named after the pinned versions, so a second
# run (or another clone) finds them and returns at once. Prints that directory
# on the last line of stdout; everything else goes to stderr and to a log file.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
source "${here}/versions.env"

cache_root="${KUBELESS_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeless-fastapi}"
go_version="$(go env GOVERSION)"
tag="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}"
tag="${tag}_${go_version}"
out="${cache_root}/bin/${tag}"
stamp="${out}/.complete"
tools=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)

if [[ -f "${stamp}" ]]; then
  echo "cluster-build: reusing ${out}" >&2
  echo "${out}"
  exit 0
fi
# --check answers "is it built?" without building, for callers that must not
# start a long build (the pytest fixture outside CI).
if [[ "${1:-}" == "--check" ]]; then
  echo "cluster-build: ${out} is not built yet; run: make cluster-build" >&2
  exit 1
fi

mkdir -p "${cache_root}/logs" "${out}"
log="${cache_root}/logs/build-${tag}-$(date -u +%Y%m%dT%H%M%SZ).log"
# Everything below is logged; stdout is kept for the final path only.
exec 3>&1 4>&2 1> >(tee -a "${log}" >&2) 2>&1
tee_pid=$!
echo "cluster-build: building ${tag} into ${out} (log: ${log})"

# The Go caches are shared by every version: modules and compiled packages are
# content-addressed, so sharing only ever saves work. GOTOOLCHAIN=local keeps
# the build on the installed Go instead of fetching another toolchain.
export GOPATH="${cache_root}/go"
export GOMODCACHE="${cache_root}/go/mod"
export GOCACHE="${cache_root}/go/build-${go_version}"
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false"
export CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
# One compile per core; more only adds memory pressure on a small machine.
export GOMAXPROCS="${GOMAXPROCS:-$(nproc)}"

started=$SECONDS
step() {
  echo "cluster-build: [$(( SECONDS - started ))s] $*"
}

work="${cache_root}/modules/${tag}"
mkdir -p "${work}"
build_flags=(-trimpath -p "${GOMAXPROCS}")
wrapper_flags=(-mod=mod "${build_flags[@]}")

# --- Kubernetes --------------------------------------------------------------
# k8s.io/kubernetes replaces its staging modules with ./staging/src paths, which
# mean nothing to a module that depends on it; the wrapper replaces each of
# them with its published release instead. The list is read from the release's
# own go.mod so that a new release's new staging modules are picked up.
step "Kubernetes ${KUBERNETES_VERSION}: preparing the wrapper module"
kmod="${work}/kubernetes"
mkdir -p "${kmod}"
upstream_gomod="$(cd "${kmod}" && go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" \
  | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
{
  echo "module kubeless-fastapi.local/cluster/kubernetes"
  echo
  echo "go $(go env GOVERSION | sed 's/^go//')"
  echo
  echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
  echo
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*#\1#p' "${upstream_gomod}" \
    | sort -u | while read -r staging; do
      echo "	${staging} => ${staging} ${KUBERNETES_STAGING_VERSION}"
    done
  echo ")"
} > "${kmod}/go.mod"
echo "cluster-build: $(grep -c ' => ' "${kmod}/go.mod") staging modules replaced"

kube_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
kube_pkgs=()
for cmd in "${kube_cmds[@]}"; do
  kube_pkgs+=("k8s.io/kubernetes/cmd/${cmd}")
done
(cd "${kmod}" && go get "${kube_pkgs[@]/%/@${KUBERNETES_VERSION}}")

# Stamp the release into both version packages so that --version and the
# apiserver's /version endpoint tell the truth instead of v0.0.0-master.
minor="$(echo "${KUBERNETES_VERSION}" | cut -d. -f2)"
build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' \
  "${GOMODCACHE}/cache/download/k8s.io/kubernetes/@v/${KUBERNETES_VERSION}.info")"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION}"
  kube_ldflags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  kube_ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
done

step "Kubernetes ${KUBERNETES_VERSION}: compiling ${kube_cmds[*]}"
# One go build for all four so that shared packages compile once, in parallel.
(cd "${kmod}" && go build "${wrapper_flags[@]}" -ldflags "${kube_ldflags}" -o "${out}/" \
  "${kube_pkgs[@]}")

# --- etcd --------------------------------------------------------------------
# etcd's own main module replaces its sibling modules with relative paths too,
# so a three-line main that calls etcdmain.Main is built instead.
step "etcd ${ETCD_VERSION}: preparing the wrapper module"
emod="${work}/etcd"
mkdir -p "${emod}"
cat > "${emod}/go.mod" <<GOMOD
module kubeless-fastapi.local/cluster/etcd

go $(go env GOVERSION | sed 's/^go//')
GOMOD
cat > "${emod}/main.go" <<'GOSRC'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
GOSRC
(cd "${emod}" && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" \
  "go.etcd.io/etcd/api/v3@${ETCD_VERSION}" && go mod tidy)

step "etcd ${ETCD_VERSION}: compiling"
(cd "${emod}" && go build "${wrapper_flags[@]}" -ldflags "-s -w" -o "${out}/etcd" .)

# --- kwok and helm -----------------------------------------------------------
# Both are ordinary modules without replace directives, so go install works.
step "kwok ${KWOK_VERSION}: compiling"
GOBIN="${out}" go install "${build_flags[@]}" \
  -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}
    -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBERNETES_VERSION}" \
  "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"

# A bare kwok has no behaviour until it is given stages. The ones kwokctl uses
# by default (nodes turn Ready and keep a lease; pods turn Running and Ready at
# once) ship in the module, so they are taken from the very version built.
kwok_src="${GOMODCACHE}/sigs.k8s.io/kwok@${KWOK_VERSION}/kustomize/stage"
for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
  pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
  echo "---"
  cat "${kwok_src}/${stage}.yaml"
done > "${out}/kwok-stages.yaml"

helm_major="$(echo "${HELM_VERSION}" | cut -d. -f1)"
step "helm ${HELM_VERSION}: compiling"
GOBIN="${out}" go install "${build_flags[@]}" \
  -ldflags "-s -w -X helm.sh/helm/${helm_major}/internal/version.version=${HELM_VERSION}
    -X helm.sh/helm/${helm_major}/internal/version.gitTreeState=clean" \
  "helm.sh/helm/${helm_major}/cmd/helm@${HELM_VERSION}"

# --- check -------------------------------------------------------------------
for tool in "${tools[@]}" kwok-stages.yaml; do
  [[ -s "${out}/${tool}" ]] || { echo "cluster-build: ${tool} was not built" >&2; exit 1; }
done
"${out}/kube-apiserver" --version
"${out}/kubectl" version --client
"${out}/etcd" --version | head -1
"${out}/kwok" --version
"${out}/helm" version --short

cp "${here}/versions.env" "${stamp}"
step "done: ${out}"
# Let tee write its last lines before the caller prints anything after us.
exec 1>&4 2>&4
wait "${tee_pid}" || true
echo "${out}" >&3
