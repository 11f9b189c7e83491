#!/usr/bin/env bash
# make demo: install the Function CRD on the local control plane, run the operator,
# apply every example's function.yaml and show them Ready.
#
# The operator runs only for the demo and stops when it ends; the Functions stay
# (in namespace $DEMO_NAMESPACE) for a look with kubectl.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster_dir="${CLUSTER_DIR:-${repo}/.cluster}"
namespace="${DEMO_NAMESPACE:-kubeless-demo}"
export KUBECONFIG="${cluster_dir}/kubeconfig"
kubectl() { "${cluster_dir}/bin/kubectl" "$@"; }

kubectl apply --server-side --force-conflicts -f "${repo}/crds/" >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/functions.kubeless.io >/dev/null
kubectl create namespace "${namespace}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

log="${cluster_dir}/demo-operator.log"
"${repo}/.venv/bin/kubeless-fastapi" operator --namespace "${namespace}" \
  --health-address 127.0.0.1:28081 --metrics-address 127.0.0.1:29090 >"${log}" 2>&1 &
operator=$!
trap 'kill "${operator}" 2>/dev/null; wait "${operator}" 2>/dev/null || true' EXIT
echo "demo: operator running (pid ${operator}, log ${log})"

# Start from no Functions, so that every Ready below comes from this operator.
kubectl delete functions --all --namespace "${namespace}" --wait=true >/dev/null
manifests=("${repo}"/examples/*/function.yaml)
kubectl apply --namespace "${namespace}" "${manifests[@]/#/--filename=}"
if ! kubectl wait --namespace "${namespace}" --for=condition=Ready --timeout=120s \
    functions --all >/dev/null; then
  echo "demo: not every Function became Ready; the operator said:" >&2
  tail -n 30 "${log}" >&2
  kubectl get functions --namespace "${namespace}" -o wide
  exit 1
fi
kubectl get functions --namespace "${namespace}" -o wide
echo "demo: every example is Ready. The operator stops with the demo; the Functions"
echo "      stay in namespace ${namespace} (kubectl describe function --namespace ${namespace})."
