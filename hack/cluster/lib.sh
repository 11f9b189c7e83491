# shellcheck shell=bash
# Helpers and paths shared by up.sh, down.sh and status.sh; sourced, not run.

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Where a running cluster keeps its state: certificates, etcd data, logs,
# pids, kubeconfigs and links to the tools. Removed by down.sh.
cluster_dir="${CLUSTER_DIR:-${repo}/.cluster}"

# The processes this project starts, in start order; down.sh stops them in
# reverse so that nothing loses its apiserver or etcd while still running.
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# Hold a lock on this cluster directory until the calling script exits, so
# that two starts (say, two pytest sessions) do not race each other. A script
# called by one that already holds it inherits the lock through the variable.
lock_cluster() {
  [[ -z "${KUBELESS_CLUSTER_LOCKED:-}" ]] || return 0
  local key
  key="$(printf '%s' "${cluster_dir}" | md5sum | cut -c1-12)"
  exec 9>>"${TMPDIR:-/tmp}/kubeless-fastapi-cluster-${key}.lock"
  if ! flock -w 600 9; then
    die "another start or stop of ${cluster_dir} has held its lock for 10 minutes"
  fi
  export KUBELESS_CLUSTER_LOCKED=1
}

say() {
  echo "cluster: $*" >&2
}

die() {
  echo "cluster: error: $*" >&2
  exit 1
}

# Print the pid recorded for a component if that process is still the binary
# that was started, so a recycled pid is never mistaken for ours.
live_pid() {
  local dir="$1" name="$2" pid exe
  [[ -f "${dir}/pids/${name}.pid" ]] || return 1
  read -r pid exe < "${dir}/pids/${name}.pid"
  [[ -n "${pid}" && -d "/proc/${pid}" ]] || return 1
  [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null)" == "$(readlink -f "${exe}")"* ]] || return 1
  echo "${pid}"
}

cluster_is_running() {
  local dir="$1" name
  for name in "${components[@]}"; do
    live_pid "${dir}" "${name}" >/dev/null || return 1
  done
  "${dir}/bin/kubectl" --kubeconfig="${dir}/kubeconfig" --request-timeout=5s \
    get --raw=/readyz >/dev/null 2>&1
}

# Start a component detached from the caller's session, so that ^C in the
# terminal or the end of a pytest run does not take the cluster down with it.
start() {
  local name="$1" dir="$2"
  shift 2
  # 9>&-: the component must not inherit (and so keep holding) the lock.
  setsid "$@" >"${dir}/logs/${name}.log" 2>&1 </dev/null 9>&- &
  echo "$! $1" >"${dir}/pids/${name}.pid"
}

# Retry a command until it succeeds, failing early with the log of any
# component that has died meanwhile instead of waiting out the timeout.
wait_for() {
  local what="$1" timeout="$2" deadline name
  shift 2
  deadline=$(( SECONDS + timeout ))
  until "$@" >/dev/null 2>&1; do
    for name in "${components[@]}"; do
      [[ -f "${cluster_dir}/pids/${name}.pid" ]] || continue
      if ! live_pid "${cluster_dir}" "${name}" >/dev/null; then
        tail -n 30 "${cluster_dir}/logs/${name}.log" >&2 || true
        die "${name} exited while waiting for ${what}; its log is ${cluster_dir}/logs/${name}.log"
      fi
    done
    if (( SECONDS >= deadline )); then
      die "${what} not ready after ${timeout}s; logs are in ${cluster_dir}/logs"
    fi
    sleep 0.5
  done
}

# make_ca PKI NAME COMMON_NAME
make_ca() {
  local pki="$1" name="$2" common_name="$3"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "${pki}/${name}.key" -out "${pki}/${name}.crt" -days 3650 \
    -subj "/CN=${common_name}" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# make_cert PKI CA NAME SUBJECT serverAuth|clientAuth [SUBJECT_ALT_NAMES]
make_cert() {
  local pki="$1" ca="$2" name="$3" subject="$4" usage="$5" sans="${6:-}"
  local ext="${pki}/${name}.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=${usage}"
    [[ -z "${sans}" ]] || echo "subjectAltName=${sans}"
  } >"${ext}"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "${pki}/${name}.key" -subj "${subject}" 2>/dev/null \
    | openssl x509 -req -CA "${pki}/${ca}.crt" -CAkey "${pki}/${ca}.key" \
      -CAcreateserial \
      -days 365 -extfile "${ext}" -out "${pki}/${name}.crt" 2>/dev/null
  rm -f "${ext}"
}

write_kubeconfig() {
  local kubectl="$1" file="$2" server="$3" pki="$4" user="$5"
  local k=("${kubectl}" --kubeconfig="${file}")
  "${k[@]}" config set-cluster local --server="${server}" \
    --certificate-authority="${pki}/ca.crt" --embed-certs=true >/dev/null
  "${k[@]}" config set-credentials "${user}" --embed-certs=true \
    --client-certificate="${pki}/${user}.crt" --client-key="${pki}/${user}.key" >/dev/null
  "${k[@]}" config set-context local --cluster=local --user="${user}" >/dev/null
  "${k[@]}" config use-context local >/dev/null
}

# A Node for kwok to manage. It has no NoSchedule taint on purpose: the
# operator's Deployments carry no kwok toleration and must still land here.
fake_node() {
  local name="$1"
  cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: ${name}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: ${name}
    node-role.kubernetes.io/agent: ""
status:
  allocatable: {cpu: "16", memory: 64Gi, pods: "110"}
  capacity: {cpu: "16", memory: 64Gi, pods: "110"}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
YAML
}
