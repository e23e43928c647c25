"""``serve``'s admin listeners: HTTP on 127.0.0.1:9090 unless told otherwise (issue 7).

The ops docs, the Dockerfile HEALTHCHECK and the chart's probes expect ``/healthz`` and
``/metrics`` without extra flags. ``--admin-listen ''``/``off`` (or ``admin.listen: ""``)
disables it; an explicitly chosen address that cannot be bound is a start-up error, while the
built-in default is best effort (see ``AdminConfig.listen``). Subprocess tests use free ports,
never 9090 itself: other engineers' proxies may hold it.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest
import yaml

from discofilter.config import (
    DEFAULT_ADMIN_LISTEN,
    AdminConfig,
    Config,
    admin_address,
    load_config_text,
)
from discofilter.config_checks import check_security
from discofilter.errors import ConfigError
from discofilter.sim.server import Simulator

pytestmark = pytest.mark.timeout(60)


def test_default_is_loopback_http_only() -> None:
    assert Config().admin == AdminConfig(listen="127.0.0.1:9090", grpc_listen="")
    assert DEFAULT_ADMIN_LISTEN == "127.0.0.1:9090"
    assert admin_address(Config().admin.listen) == "127.0.0.1:9090"
    assert admin_address(Config().admin.grpc_listen) is None


@pytest.mark.parametrize("value", ["", "off", "OFF", " off "])
def test_off_values_disable(value: str) -> None:
    assert admin_address(value) is None


def test_file_keys() -> None:
    c = load_config_text("admin:\n  listen: ''\n  grpcListen: 127.0.0.1:9091\n")
    assert c.admin == AdminConfig(listen="", grpc_listen="127.0.0.1:9091")
    with pytest.raises(ConfigError, match=r"admin\.grpclisten: unknown key"):
        load_config_text("admin:\n  grpclisten: x\n")


def test_bad_address_refused() -> None:
    c = load_config_text("admin:\n  listen: nope\n")
    with pytest.raises(ConfigError, match=r"admin\.listen: 'nope' is not HOST:PORT"):
        check_security(c)


async def _serve(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "discofilter.server", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "listen", "grpc"),
    [
        ([], "127.0.0.1:9090", ""),
        (["--admin-listen", "off"], "off", ""),
        (["--admin-listen", "", "--admin-grpc-listen", "127.0.0.1:9091"], "", "127.0.0.1:9091"),
    ],
)
async def test_print_config_shows_admin(flags: list[str], listen: str, grpc: str) -> None:
    proc = await _serve("--print-config", "--upstream", "http://127.0.0.1:9", *flags)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err
    assert yaml.safe_load(out)["admin"] == {"listen": listen, "grpcListen": grpc}


async def test_explicit_admin_address_in_use_fails_start() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        async with Simulator() as sim:
            sim.store.create("namespaces", {"metadata": {"name": "istio-system"}})
            proc = await _serve(
                "--listen", "127.0.0.1:0", "--upstream", sim.url,
                "--admin-listen", f"127.0.0.1:{port}",
            )  # fmt: skip
            _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert f"admin.listen: cannot listen on 127.0.0.1:{port}".encode() in err
