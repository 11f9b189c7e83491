#!/usr/bin/env bash
# Exit 0 when the local control plane that up.sh started is running and ready.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${here}/lib.sh"

if cluster_is_running "${cluster_dir}"; then
  say "running (kubeconfig: ${cluster_dir}/kubeconfig)"
  exit 0
fi
say "not running in ${cluster_dir}"
exit 1
