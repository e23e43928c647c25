"""Pure parts of live reload: ``Enrollment.reconfigure``, the file watch, what needs a restart,
and the flips seen from open streams."""

from __future__ import annotations

import os
from pathlib import Path

from discofilter.config import Config, load_config_text
from discofilter.filter.enrollment import Enrollment, EnrollmentChange
from discofilter.filter.selectors import SelectorSet, parse_label_selector
from discofilter.server.reload import ConfigFileWatch, restart_only_changes, stream_changes
from discofilter.server.streams.registry import WatchStream

MESH = {"istio-injection": "enabled"}


def _view(selector: str | None) -> Enrollment:
    sels = SelectorSet((parse_label_selector(selector),)) if selector else None
    e = Enrollment(sels)
    e.sync({"istio-system": {}, "mesh-a": MESH, "batch": {"tier": "batch"}, "web": {}})
    return e


def test_reconfigure_flips_in_place_and_keeps_the_invariant() -> None:
    e = _view("istio-injection=enabled")
    is_enrolled = e.is_enrolled  # what an open stream's filter holds
    changes = e.reconfigure(
        SelectorSet((parse_label_selector("tier=batch"),)), frozenset({"istio-system"})
    )
    assert changes == [
        EnrollmentChange("batch", True, "discoverySelectors[0]"),
        EnrollmentChange("mesh-a", False, None),
    ]
    assert is_enrolled("batch") and not is_enrolled("mesh-a") and is_enrolled("istio-system")
    assert e.enrolled() == {"batch", "istio-system"}
    assert e.matching_term("batch") == "discoverySelectors[0]"


def test_reconfigure_always_enrolled_names_join_and_leave() -> None:
    e = _view("istio-injection=enabled")
    changes = e.reconfigure(e.selectors, frozenset({"web", "not-seen-yet"}))
    assert changes == [
        EnrollmentChange("istio-system", False, None),
        EnrollmentChange("not-seen-yet", True, "alwaysEnrolled"),
        EnrollmentChange("web", True, "alwaysEnrolled"),
    ]
    assert e.enrolled() == {"mesh-a", "web", "not-seen-yet"}


def test_reconfigure_to_and_from_every_namespace() -> None:
    e = _view("istio-injection=enabled")
    to_all = e.reconfigure(None, frozenset({"istio-system"}))
    assert {(c.namespace, c.enrolled) for c in to_all} == {("batch", True), ("web", True)}
    assert e.is_enrolled("anything")
    back = e.reconfigure(SelectorSet(()), frozenset())
    assert {(c.namespace, c.enrolled) for c in back} == {
        ("batch", False), ("web", False), ("mesh-a", False), ("istio-system", False)
    }  # fmt: skip
    assert e.enrolled() == frozenset()


def test_reconfigure_with_the_same_selection_changes_nothing() -> None:
    e = _view("istio-injection=enabled")
    assert e.reconfigure(e.selectors, e.always_enrolled, ("--selector 0",)) == []
    assert e.matching_term("mesh-a") == "--selector 0"


def test_file_watch_sees_content_changes_only(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("alwaysEnrolled: [a]\n")
    w = ConfigFileWatch(str(p))
    assert not w.changed()
    os.utime(p, (1, 1))  # touched, same content: no reload
    assert not w.changed()
    p.write_text("alwaysEnrolled: [b]\n")  # same size, new content
    assert w.changed() and not w.changed()
    p.unlink()
    assert w.changed()  # vanished: reload (and be rejected, logged)
    p.write_text("alwaysEnrolled: [b]\n")
    assert w.changed()


def test_restart_only_changes_name_file_keys() -> None:
    running = Config()
    new = load_config_text(
        "server: {listen: '127.0.0.1:9000', workers: 2}\n"
        "upstream: {url: 'http://x'}\nexemptResources: [leases.coordination.k8s.io]\n"
        "discoverySelectors: [{matchLabels: {a: b}}]\nalwaysEnrolled: [x]\n"
        "sharedWatches: {enabled: true, idleSeconds: 5}\n"
    )
    assert restart_only_changes(running, new) == [
        "server.listen", "server.workers", "upstream.url", "sharedWatches.enabled",
        "sharedWatches.idleSeconds", "exemptResources",
    ]  # fmt: skip
    assert restart_only_changes(running, running) == []


def test_stream_changes_catch_namespaces_the_view_never_knew() -> None:
    e = _view("istio-injection=enabled")
    s = WatchStream(resource="pods")
    s.delivered_ns |= {"", "mesh-a", "unknown-ns"}  # "" = cluster-scoped: always passes
    s.dropped_ns |= {"batch", "web"}
    known = [EnrollmentChange("web", True, "alwaysEnrolled")]
    e.reconfigure(e.selectors, frozenset({"web"}))
    assert stream_changes([s], e, known) == [EnrollmentChange("unknown-ns", False, None)]
