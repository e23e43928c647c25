"""Filtered LIST: items, pagination, Table, gzip bodies, Status pass-through."""

from __future__ import annotations

import gzip

import aiohttp
import orjson
import pytest

from tests.component.proxy.conftest import CONTENT_TYPES, JSON, Rig
from tests.component.proxy.helpers import list_namespaces, parse_list

pytestmark = pytest.mark.timeout(30)


def _populate(rig: Rig) -> None:
    for i in range(5):
        rig.pod(f"a{i}", "mesh-a")
        rig.pod(f"x{i}", "batch")
    rig.pod("b0", "mesh-b")


@pytest.mark.parametrize("ctype", CONTENT_TYPES)
async def test_list_keeps_only_enrolled(rig: Rig, ctype: str) -> None:
    _populate(rig)
    async with (
        aiohttp.ClientSession() as s,
        s.get(rig.url + "/api/v1/pods", headers={"Accept": ctype}) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"].startswith(ctype)
        body = await r.read()
    assert sorted(list_namespaces(body, ctype)) == ["mesh-a"] * 5 + ["mesh-b"]


@pytest.mark.parametrize("ctype", CONTENT_TYPES)
async def test_pagination_short_and_empty_pages(rig: Rig, ctype: str) -> None:
    _populate(rig)
    seen: list[tuple[str, str]] = []
    sizes: list[int] = []
    cont = ""
    async with aiohttp.ClientSession() as s:
        while True:
            url = f"{rig.url}/api/v1/pods?limit=2" + (f"&continue={cont}" if cont else "")
            async with s.get(url, headers={"Accept": ctype}) as r:
                assert r.status == 200
                page = parse_list(await r.read(), r.headers["Content-Type"])
            assert page.remaining_item_count is None  # counts unfiltered objects: dropped
            assert page.resource_version
            sizes.append(len(page.items))
            seen += [(ns, name) for ns, name, _ in page.items]
            cont = page.continue_
            if not cont:
                break
    assert sorted(seen) == sorted(rig.expected())
    assert len(sizes) == 6 and min(sizes) < 2  # 11 objects upstream, 2 per page: some short


async def test_table_list_for_kubectl(rig: Rig) -> None:
    _populate(rig)
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    async with (
        aiohttp.ClientSession() as s,
        s.get(rig.url + "/api/v1/pods?limit=500", headers={"Accept": accept}) as r,
    ):
        doc = await r.json()
    assert doc["kind"] == "Table"
    nss = {row["object"]["metadata"]["namespace"] for row in doc["rows"]}
    assert nss == {"mesh-a", "mesh-b"}


async def test_gzip_upstream_body_is_decompressed_and_filtered(rig: Rig) -> None:
    _populate(rig)
    async with (
        aiohttp.ClientSession(auto_decompress=False) as s,
        s.get(rig.url + "/api/v1/pods", headers={"Accept-Encoding": "gzip", "Accept": JSON}) as r,
    ):
        raw = await r.read()
        enc = r.headers.get("Content-Encoding")
        length = int(r.headers["Content-Length"])
    body = gzip.decompress(raw) if enc == "gzip" else raw
    assert length == len(raw)
    assert len(orjson.loads(body)["items"]) == 6


async def test_list_error_status_passes_through(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.get(rig.url + "/api/v1/pods?labelSelector=a+in+(") as r,
    ):
        direct = await s.get(rig.sim.url + "/api/v1/pods?labelSelector=a+in+(")
        assert r.status == direct.status
        assert (await r.json())["kind"] == "Status"
        direct.close()


async def test_label_selector_passes_upstream_unchanged(rig: Rig) -> None:
    rig.pod("sel", "mesh-a", app="web")
    rig.pod("sel", "batch", app="web")
    rig.pod("other", "mesh-a")
    async with (
        aiohttp.ClientSession() as s,
        s.get(rig.url + "/api/v1/pods?labelSelector=app%3Dweb") as r,
    ):
        doc = await r.json()
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]] == [
        ("mesh-a", "sel")
    ]
