"""``kubeless-fastapi operator`` refuses bad options in one sentence, before it starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.processes import free_port

COMMAND = str(Path(sys.executable).parent / "kubeless-fastapi")
PREFIX = "kubeless-fastapi operator: "


def run_operator(*args: str) -> subprocess.CompletedProcess[str]:
    # Loopback addresses on free ports, so only the option under test is wrong.
    defaults = ["--health-address", f"127.0.0.1:{free_port()}",
                "--metrics-address", f"127.0.0.1:{free_port()}"]
    return subprocess.run([COMMAND, "operator", *defaults, *args], capture_output=True,
                          text=True, timeout=60, check=False)


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(PREFIX)
    assert line.endswith(".")
    for text in expected:
        assert text in line


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--workers", "0"], ["--workers is 0", "at least 1"], id="no-workers"),
        pytest.param(["--resync-seconds", "-1"], ["--resync-seconds is -1", "above zero"],
                     id="negative-resync"),
        pytest.param(["--resync-seconds", "nan"], ["--resync-seconds is nan"],
                     id="nan-resync"),
        pytest.param(["--cluster-domain", "bad domain"],
                     ["--cluster-domain is 'bad domain'", "'cluster.local'"],
                     id="domain-with-space"),
        pytest.param(["--metrics-address", "127.0.0.1:70000"],
                     ["--metrics-address is '127.0.0.1:70000'", "from 1 to 65535"],
                     id="port-out-of-range"),
        pytest.param(["--namespace", "Team_A"],
                     ["--namespace 'Team_A' is neither a namespace name nor a glob", "'team-*'"],
                     id="namespace-not-a-name"),
        pytest.param(["--namespace", "!kube-system"], ["--namespace '!kube-system'"],
                     id="namespace-exclusion"),
    ],
)
def test_an_unusable_setting_is_refused_in_one_sentence(
        args: list[str], expected: list[str]) -> None:
    assert_refused(run_operator(*args), *expected)


@pytest.mark.parametrize("option", ["--metrics-address", "--health-address"])
def test_a_port_in_use_is_refused_in_one_sentence(option: str, taken_port: int) -> None:
    result = run_operator(option, f"127.0.0.1:{taken_port}")

    assert_refused(result, f"{option} is '127.0.0.1:{taken_port}'", "Address already in use",
                   "choose a free port")


def test_health_and_metrics_on_one_port_are_refused() -> None:
    port = free_port()

    result = run_operator("--health-address", f"127.0.0.1:{port}",
                          "--metrics-address", f"0.0.0.0:{port}")

    assert_refused(result, f"--health-address and --metrics-address both use port {port}")


def test_a_runtime_table_that_is_not_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    table = tmp_path / "runtimes.yaml"
    table.write_text("python-fastapi3.12: [unclosed\nother: x: y\n")

    result = run_operator("--runtimes", str(table))

    assert_refused(result, f"the runtime table '{table}' is not valid YAML", "at line 2")


@pytest.mark.parametrize(("table_text", "expected"), [
    pytest.param("'Bad Name!': registry.example/runtime:1\n",
                 "runtime name 'Bad Name!' cannot be written in a Function's spec.runtime",
                 id="name-with-a-space"),
    pytest.param('"py\\n": registry.example/runtime:1\n',
                 "runtime name 'py\\n' cannot be written", id="name-with-a-newline"),
    pytest.param("py: {image: registry.example/runtime:1, pullPolicy: Always}\n",
                 "runtime 'py' has pullPolicy, which the table does not know",
                 id="unknown-key"),
])
def test_a_runtime_table_entry_no_function_could_use_is_refused(
        tmp_path: Path, table_text: str, expected: str) -> None:
    table = tmp_path / "runtimes.yaml"
    table.write_text(table_text)

    result = run_operator("--runtimes", str(table))

    assert_refused(result, expected)


BROKEN_CA_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: "not base64!"}
users:
- name: someone
  user: {token: abc}
contexts:
- name: here
  context: {cluster: local, user: someone}
current-context: here
"""


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(": : not yaml [\n", "while parsing a block mapping", id="not-yaml"),
    pytest.param(BROKEN_CA_KUBECONFIG, "Invalid base64-encoded string", id="bad-base64"),
])
def test_a_kubeconfig_that_cannot_be_read_is_refused_in_one_sentence(
        tmp_path: Path, text: str, expected: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(text)

    result = subprocess.run(
        [COMMAND, "operator", "--health-address", f"127.0.0.1:{free_port()}",
         "--metrics-address", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)})

    assert_refused(result, "no Kubernetes connection: the kubeconfig cannot be read", expected)


def test_a_kubeconfig_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.kubeconfig"

    result = subprocess.run(
        [COMMAND, "operator", "--health-address", f"127.0.0.1:{free_port()}",
         "--metrics-address", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "KUBECONFIG": str(missing)})

    assert_refused(result, f"KUBECONFIG names {str(missing)!r}, and none is a file")


def test_no_kubeconfig_anywhere_outside_a_pod_is_refused_saying_where_it_looked(
        tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("KUBERNETES_SERVICE")}
    result = subprocess.run(
        [COMMAND, "operator", "--health-address", f"127.0.0.1:{free_port()}",
         "--metrics-address", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**environment, "KUBECONFIG": "", "HOME": str(tmp_path)})

    assert_refused(result, "KUBECONFIG names no file", f"there is no {tmp_path}/.kube/config",
                   "not a pod with a service account")


def test_a_webhook_certificate_that_is_not_pem_is_refused_in_one_sentence(
        tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")

    result = run_operator("--webhook-address", f"127.0.0.1:{free_port()}",
                          "--webhook-cert", str(text), "--webhook-key", str(text))

    assert_refused(result, "must be a PEM certificate and its own private key",
                   "OpenSSL cannot read them as PEM")


def test_a_webhook_key_of_another_certificate_is_refused_in_one_sentence(
        tmp_path: Path) -> None:
    cert, key, other_key = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "other.key"
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=a",
         "-keyout", str(key), "-out", str(cert)],
        ["genrsa", "-out", str(other_key), "2048"],
    ):
        subprocess.run(["openssl", *command], check=True, capture_output=True)

    result = run_operator("--webhook-address", f"127.0.0.1:{free_port()}",
                          "--webhook-cert", str(cert), "--webhook-key", str(other_key))

    assert_refused(result, "the key is not the certificate's")


def test_a_webhook_key_behind_a_passphrase_is_refused_without_a_prompt(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    for command in (
        ["genrsa", "-aes128", "-passout", "pass:secret", "-out", str(key), "2048"],
        ["req", "-x509", "-new", "-key", str(key), "-passin", "pass:secret", "-subj", "/CN=a",
         "-days", "1", "-out", str(cert)],
    ):
        subprocess.run(["openssl", *command], check=True, capture_output=True)

    result = run_operator("--webhook-address", f"127.0.0.1:{free_port()}",
                          "--webhook-cert", str(cert), "--webhook-key", str(key))

    assert_refused(result, "is protected by a passphrase", "use an unencrypted key")


def test_a_webhook_certificate_without_an_address_is_refused(tmp_path: Path) -> None:
    result = run_operator("--webhook-cert", str(tmp_path / "tls.crt"))

    assert_refused(result, "serve the webhook only with --webhook-address")
