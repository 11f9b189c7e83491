#!/usr/bin/env bash
# Stop the processes that hack/cluster/up.sh started (and only those: each pid
# is checked against the binary it was started from) and remove the state.
# Safe to run when nothing is running. With --keep-state the processes stop
# but the state (logs above all) stays, for a start that failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${here}/lib.sh"
lock_cluster

if [[ ! -d "${cluster_dir}" ]]; then
  say "nothing to stop in ${cluster_dir}"
  exit 0
fi

for (( i = ${#components[@]} - 1; i >= 0; i-- )); do
  name="${components[i]}"
  pid="$(live_pid "${cluster_dir}" "${name}")" || continue
  say "stopping ${name} (pid ${pid})"
  kill -TERM "${pid}" 2>/dev/null || true
  # Graceful first, so etcd and the apiserver close cleanly; then insist.
  for _ in $(seq 1 40); do
    [[ -d "/proc/${pid}" ]] || break
    sleep 0.25
  done
  if [[ -d "/proc/${pid}" ]]; then
    say "${name} ignored SIGTERM; killing it"
    kill -KILL "${pid}" 2>/dev/null || true
  fi
done

if [[ "${1:-}" == "--keep-state" ]]; then
  say "stopped; kept ${cluster_dir} (logs in ${cluster_dir}/logs)"
  exit 0
fi

# Guard against a CLUSTER_DIR that points somewhere it must not.
case "$(cd "${cluster_dir}" && pwd)" in
  / | "${HOME}" | "${repo}") die "refusing to remove ${cluster_dir}" ;;
esac
rm -rf "${cluster_dir}"
say "stopped; removed ${cluster_dir}"
