#!/usr/bin/env bash
# Start a local Kubernetes control plane in the background: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and kwok with a few
# fake nodes, all on loopback ports. Writes $CLUSTER_DIR/kubeconfig and links
# the tools into $CLUSTER_DIR/bin.
#
# Safe to run twice: a running cluster is left alone; a half-dead one is
# stopped and started afresh. hack/cluster/down.sh stops it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${here}/lib.sh"
lock_cluster

# Ports sit away from the usual 2379/6443/10257/10259 so that a cluster the
# developer already runs on this host does not collide with this one.
ETCD_PORT="${ETCD_PORT:-32379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-32380}"
APISERVER_PORT="${APISERVER_PORT:-36443}"
CONTROLLER_MANAGER_PORT="${CONTROLLER_MANAGER_PORT:-30257}"
SCHEDULER_PORT="${SCHEDULER_PORT:-30259}"
KWOK_PORT="${KWOK_PORT:-30247}"
NODE_COUNT="${NODE_COUNT:-3}"
READY_TIMEOUT="${READY_TIMEOUT:-120}"

if cluster_is_running "${cluster_dir}"; then
  say "already running (kubeconfig: ${cluster_dir}/kubeconfig)"
  exit 0
fi
if [[ -d "${cluster_dir}" ]]; then
  say "found a stopped or partial cluster in ${cluster_dir}; cleaning it up first"
  "${here}/down.sh"
fi

bin="$("${here}/build.sh")"

# A start that fails half-way must not leave a half cluster running; its logs
# stay behind to explain why, and the next start cleans them up.
stop_on_failure() {
  local status=$?
  if (( status != 0 )); then
    "${here}/down.sh" --keep-state || true
  fi
  exit "${status}"
}
trap stop_on_failure EXIT
for port in "${ETCD_PORT}" "${ETCD_PEER_PORT}" "${APISERVER_PORT}" \
  "${CONTROLLER_MANAGER_PORT}" "${SCHEDULER_PORT}" "${KWOK_PORT}"; do
  if ss -Htln "sport = :${port}" | grep -q .; then
    die "port ${port} on this host is taken; set the matching *_PORT variable to a free one"
  fi
done

pki="${cluster_dir}/pki"
mkdir -p "${cluster_dir}/bin" "${cluster_dir}/logs" "${cluster_dir}/pids" "${pki}"
for tool in "${bin}"/*; do
  if [[ -x "${tool}" ]]; then ln -sfn "${tool}" "${cluster_dir}/bin/${tool##*/}"; fi
done
kubectl="${cluster_dir}/bin/kubectl"
started=$SECONDS

# --- certificates ------------------------------------------------------------
# Made fresh at every start so no key outlives the cluster it belongs to. The
# identities match the RBAC bindings that the apiserver bootstraps.
say "making certificates"
make_ca "${pki}" ca kubeless-fastapi-local-ca
make_cert "${pki}" ca apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,\
DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1"
make_cert "${pki}" ca admin "/O=system:masters/CN=kubernetes-admin" clientAuth
make_cert "${pki}" ca controller-manager "/CN=system:kube-controller-manager" clientAuth
make_cert "${pki}" ca scheduler "/CN=system:kube-scheduler" clientAuth
# kwok writes node and pod status for every fake node, which no narrower
# built-in role allows.
make_cert "${pki}" ca kwok "/O=system:masters/CN=kwok" clientAuth
# The aggregation layer's front proxy has its own CA, as kubeadm sets it up;
# without it the controller-manager and scheduler log, over and over, that
# they cannot find the request-header CA for delegated authentication.
make_ca "${pki}" front-proxy-ca kubeless-fastapi-front-proxy-ca
make_cert "${pki}" front-proxy-ca front-proxy-client "/CN=front-proxy-client" clientAuth
# The apiserver signs ServiceAccount tokens with this key and the
# controller-manager's token controller needs the same one.
openssl genrsa -out "${pki}/sa.key" 2048 2>/dev/null
openssl rsa -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub" 2>/dev/null

server="https://127.0.0.1:${APISERVER_PORT}"
for user in admin controller-manager scheduler kwok; do
  write_kubeconfig "${kubectl}" "${cluster_dir}/${user}.kubeconfig" "${server}" "${pki}" "${user}"
done
cp "${cluster_dir}/admin.kubeconfig" "${cluster_dir}/kubeconfig"

# --- etcd --------------------------------------------------------------------
# fsync buys durability that a throw-away test cluster does not need, and costs
# seconds per test on slow disks.
say "starting etcd on 127.0.0.1:${ETCD_PORT}"
start etcd "${cluster_dir}" "${bin}/etcd" \
  --name=kubeless \
  --data-dir="${cluster_dir}/etcd" \
  --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" \
  --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
  --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-cluster="kubeless=http://127.0.0.1:${ETCD_PEER_PORT}" \
  --unsafe-no-fsync \
  --log-level=warn
wait_for "etcd" "${READY_TIMEOUT}" curl -fsS "http://127.0.0.1:${ETCD_PORT}/health"

# --- kube-apiserver ----------------------------------------------------------
# No kubelets exist, so the endpoint reconciler is off: it would try to publish
# 127.0.0.1 as the kubernetes Service's endpoint, which validation refuses.
say "starting kube-apiserver on ${server}"
start kube-apiserver "${cluster_dir}" "${bin}/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="${APISERVER_PORT}" \
  --cert-dir="${pki}" \
  --tls-cert-file="${pki}/apiserver.crt" \
  --tls-private-key-file="${pki}/apiserver.key" \
  --client-ca-file="${pki}/ca.crt" \
  --authorization-mode=RBAC \
  --anonymous-auth=false \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="${pki}/sa.pub" \
  --service-account-signing-key-file="${pki}/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --endpoint-reconciler-type=none \
  --requestheader-client-ca-file="${pki}/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="${pki}/front-proxy-client.crt" \
  --proxy-client-key-file="${pki}/front-proxy-client.key" \
  --allow-privileged=true \
  --profiling=false
wait_for "kube-apiserver" "${READY_TIMEOUT}" \
  "${kubectl}" --kubeconfig="${cluster_dir}/kubeconfig" get --raw=/readyz

# --- kube-controller-manager and kube-scheduler ------------------------------
# One instance each, so leader election would only add lease traffic.
say "starting kube-controller-manager and kube-scheduler"
start kube-controller-manager "${cluster_dir}" "${bin}/kube-controller-manager" \
  --kubeconfig="${cluster_dir}/controller-manager.kubeconfig" \
  --authentication-kubeconfig="${cluster_dir}/controller-manager.kubeconfig" \
  --authorization-kubeconfig="${cluster_dir}/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="${CONTROLLER_MANAGER_PORT}" \
  --cert-dir="${cluster_dir}/controller-manager" \
  --leader-elect=false \
  --use-service-account-credentials=true \
  --service-account-private-key-file="${pki}/sa.key" \
  --root-ca-file="${pki}/ca.crt" \
  --cluster-signing-cert-file="${pki}/ca.crt" \
  --cluster-signing-key-file="${pki}/ca.key" \
  --profiling=false
start kube-scheduler "${cluster_dir}" "${bin}/kube-scheduler" \
  --kubeconfig="${cluster_dir}/scheduler.kubeconfig" \
  --authentication-kubeconfig="${cluster_dir}/scheduler.kubeconfig" \
  --authorization-kubeconfig="${cluster_dir}/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="${SCHEDULER_PORT}" \
  --cert-dir="${cluster_dir}/scheduler" \
  --leader-elect=false \
  --profiling=false
wait_for "kube-controller-manager" "${READY_TIMEOUT}" \
  curl -fsSk "https://127.0.0.1:${CONTROLLER_MANAGER_PORT}/healthz"
wait_for "kube-scheduler" "${READY_TIMEOUT}" \
  curl -fsSk "https://127.0.0.1:${SCHEDULER_PORT}/healthz"

# --- kwok and its nodes ------------------------------------------------------
# kwok only manages nodes that carry its annotation, so a real node joined by
# hand would be left alone. The stages make pods Running and Ready at once.
say "starting kwok with ${NODE_COUNT} fake nodes"
start kwok "${cluster_dir}" "${bin}/kwok" \
  --kubeconfig="${cluster_dir}/kwok.kubeconfig" \
  --config="${bin}/kwok-stages.yaml" \
  --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --manage-nodes-with-label-selector= \
  --manage-single-node= \
  --cidr=10.244.0.0/16 \
  --node-ip=10.0.0.1 \
  --node-lease-duration-seconds=40 \
  --server-address="127.0.0.1:${KWOK_PORT}"
wait_for "kwok" "${READY_TIMEOUT}" curl -fsS "http://127.0.0.1:${KWOK_PORT}/healthz"
for i in $(seq 0 $(( NODE_COUNT - 1 ))); do
  fake_node "kwok-node-${i}"
done | "${kubectl}" --kubeconfig="${cluster_dir}/kubeconfig" apply -f - >/dev/null
wait_for "nodes to be Ready" "${READY_TIMEOUT}" \
  "${kubectl}" --kubeconfig="${cluster_dir}/kubeconfig" wait node \
  --selector=type=kwok --for=condition=Ready --timeout=5s

# Pods are refused until their namespace's default ServiceAccount exists, and
# the controller-manager makes it a moment after the namespace appears.
wait_for "the default ServiceAccount" "${READY_TIMEOUT}" \
  "${kubectl}" --kubeconfig="${cluster_dir}/kubeconfig" get serviceaccount default

say "ready in $(( SECONDS - started ))s; use it with:"
say "  export KUBECONFIG=${cluster_dir}/kubeconfig PATH=${cluster_dir}/bin:\$PATH"
