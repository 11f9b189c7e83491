"""Settings from the Kubeless environment and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeless_runtime import settings


def test_kubeless_environment_names_the_module_in_kubeless():
    config = settings.from_environment(environ={
        "MOD_NAME": "hello", "FUNC_HANDLER": "get_hello", "FUNC_TIMEOUT": "30",
        "FUNC_PORT": "9000", "FUNC_RUNTIME": "python-fastapi3.12", "FUNC_MEMORY_LIMIT": "64Mi",
    })

    assert config.module_path == Path("/kubeless/hello.py")
    assert config.handler == "get_hello"
    assert (config.timeout, config.port) == (30.0, 9000)
    assert (config.runtime, config.memory_limit) == ("python-fastapi3.12", "64Mi")
    assert config.install_volume == Path("/kubeless")


def test_command_line_values_win_over_the_environment():
    config = settings.from_environment(
        module_path=Path("f.py"), handler="get_f", port=1234, timeout=2.5,
        environ={"FUNC_HANDLER": "get_other", "FUNC_PORT": "9000", "FUNC_TIMEOUT": "30"},
    )

    assert (config.module_path, config.handler) == (Path("f.py"), "get_f")
    assert (config.port, config.timeout) == (1234, 2.5)


def test_defaults_follow_kubeless():
    config = settings.from_environment(module_path=Path("f.py"), handler="get_f", environ={})

    assert (config.port, config.timeout) == (8080, 180.0)
    assert config.max_body_bytes == 10 * 1024 * 1024
    assert config.log_format == "text"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param({}, "MOD_NAME is not set", id="no-module"),
        pytest.param({"MOD_NAME": "m"}, "FUNC_HANDLER is not set", id="no-handler"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "get_m", "FUNC_TIMEOUT": "soon"},
                     "FUNC_TIMEOUT must be a number of seconds such as '180', not 'soon'",
                     id="timeout-not-a-number"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "get_m", "FUNC_TIMEOUT": "0"},
                     "the time limit must be a positive number", id="timeout-zero"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "get_m", "FUNC_PORT": "http"},
                     "FUNC_PORT must be a whole number, not 'http'", id="port-not-a-number"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "get_m", "LOG_FORMAT": "xml"},
                     "LOG_FORMAT must be 'text' or 'json', not 'xml'", id="log-format"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "get_m", "LOG_LEVEL": "loud"},
                     "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
                     "not 'LOUD'", id="log-level"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "get_m", "FUNC_TIMEOUT": "nan"},
                     "the time limit must be a positive number of seconds, not nan",
                     id="timeout-nan"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "get_m", "FUNC_TIMEOUT": "1e400"},
                     "the time limit must be a positive number of seconds, not inf",
                     id="timeout-infinite"),
        pytest.param({"MOD_NAME": "m.py", "FUNC_HANDLER": "get_m"},
                     "MOD_NAME is the module's name without .py, such as 'm', not 'm.py'",
                     id="module-with-py"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "m.get_m"},
                     "the handler is 'm.get_m', but it names the function alone, such as "
                     "'get_m'", id="kubeless-style-handler"),
        pytest.param({"MOD_NAME": "m", "FUNC_HANDLER": "get m"},
                     "the handler is 'get m', which is not a Python function name",
                     id="handler-with-a-space"),
    ],
)
def test_bad_settings_are_explained(environ, message):
    with pytest.raises(settings.SettingsError, match=message):
        settings.from_environment(environ=environ)
