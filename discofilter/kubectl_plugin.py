"""``kubectl discofilter ...``: the discofilter CLI as a kubectl plugin.

kubectl runs any executable named ``kubectl-<name>`` on PATH for ``kubectl <name>``
(``kubectl plugin list`` shows it); ``pip install discofilter`` installs
``kubectl-discofilter`` beside ``discofilter`` (``[project.scripts]``). The plugin speaks in
kubectl's terms:

    kubectl discofilter explain [-l SELECTOR ...]     = discofilter selectors explain
    kubectl discofilter status --admin URL            the live selectors, their source, readiness
    kubectl discofilter remote-secret ...             = discofilter remote-secret
    kubectl discofilter <any other discofilter command>

kubectl hands a plugin neither its flags nor its context: ``--kubeconfig``/``--context`` are
taken by the subcommands themselves, and ``$KUBECONFIG`` is read as kubectl reads it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from discofilter.cli import main as discofilter_main

ALIASES = {"explain": ["selectors", "explain"]}
USAGE = """usage: kubectl discofilter COMMAND [ARGS]

commands:
  explain        which namespaces are enrolled and why; dry-run candidate selectors
  status         the live selectors of a running discofilter and where they come from
  remote-secret  the Secret a primary istiod needs to watch a cluster through discofilter
  serve, sim, demo, bench, record, selectors   as `discofilter COMMAND`
"""


def status(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="kubectl discofilter status")
    p.add_argument("--admin", required=True, metavar="URL",
                   help="discofilter's admin HTTP (e.g. after kubectl port-forward: "
                   "http://127.0.0.1:9090)")  # fmt: skip
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    args = p.parse_args(list(argv))
    import urllib.error
    import urllib.request

    url = args.admin.rstrip("/") + "/debug/enrollment"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            doc: dict[str, Any] = orjson.loads(r.read())
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as e:
        print(f"kubectl discofilter status: {url}: {e}", file=sys.stderr)
        return 1
    if args.output == "json":
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    src = doc.get("selectorsSource") or {}
    rv = src.get("resourceVersion") or ""
    terms = " OR ".join(f"[{t}]" for t in doc.get("selectors") or [])
    lines = [
        f"selectors:  {'every namespace' if doc.get('selectAll') else terms or '(none)'}",
        f"source:     {src.get('source', 'config')}" + (f"@{rv}" if rv else ""),
        f"healthy:    {'yes' if src.get('healthy', True) else 'no: ' + str(src.get('error'))}",
        f"always:     {', '.join(doc.get('alwaysEnrolled') or [])}",
        f"enrolled:   {doc.get('enrolled')} of {doc.get('total')} namespaces"
        + ("" if doc.get("synced") else " (not synced yet)"),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if src.get("healthy", True) else 3


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    if args[0] == "status":
        return status(args[1:])
    return discofilter_main([*ALIASES.get(args[0], [args[0]]), *args[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
