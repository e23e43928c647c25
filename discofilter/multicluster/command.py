"""``discofilter remote-secret``: print the Secret a primary istiod needs for a remote cluster.

Usage (docs/istio.md, "Multi-cluster"):

    discofilter remote-secret --cluster-name cluster2 --server https://discofilter.example:8443 \\
        --ca-file discofilter-ca.pem --token-file reader.token | kubectl apply -f - --context=c1

The token comes from ``--token-file`` or from the user of a kubeconfig context of the remote
cluster (``--kubeconfig``/``--context``), which must authenticate with a bearer token. The
Secret goes to stdout only (it holds a credential); errors go to stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson
import yaml

from discofilter.errors import ConfigError
from discofilter.multicluster.remote_secret import RemoteSecretSpec, kubeconfig, remote_secret


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "remote-secret",
        help="print the Secret that lets a primary istiod watch a remote cluster via discofilter",
        description="Print the Secret istiod's multi-cluster controller reads (label "
        "istio/multiCluster=true, annotation networking.istio.io/cluster, one kubeconfig key), "
        "pointing at the discofilter in front of the remote cluster. See docs/istio.md.",
    )
    p.add_argument("--cluster-name", required=True, help="the remote cluster's ID (CLUSTER_ID)")
    p.add_argument("--server", required=True, help="https:// URL of its discofilter")
    p.add_argument("--ca-file", required=True, help="discofilter's serving CA (PEM)")
    p.add_argument("--tls-server-name", default="", help="name to verify discofilter's cert by")
    creds = p.add_argument_group("the remote cluster's reader credentials (a bearer token)")
    creds.add_argument("--token-file", help="file holding the token")
    creds.add_argument("--kubeconfig", help="take the token of this kubeconfig's user")
    creds.add_argument("--context", help="kubeconfig context (default: current-context)")
    p.add_argument("--namespace", default="istio-system", help="the primary istiod's namespace")
    p.add_argument("--name", default="", help="Secret name (default istio-remote-secret-NAME)")
    p.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    p.set_defaults(func=run)


def _token(args: argparse.Namespace) -> str:
    if args.token_file and args.kubeconfig:
        raise ConfigError("give --token-file or --kubeconfig, not both")
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as e:
            raise ConfigError(f"--token-file {args.token_file}: {e.strerror}") from e
    if args.kubeconfig:
        from discofilter.upstream.kubeconfig import load_kubeconfig

        target = load_kubeconfig(args.kubeconfig, args.context)
        token = target.own.bearer()
        if not token:
            why = (
                "a client certificate (discofilter terminates TLS, so it cannot pass one on)"
                if target.own.has_client_cert
                else "no bearer token"
            )
            raise ConfigError(
                f"{target.source}: its user authenticates with {why}; give --token-file with "
                "the remote cluster's istio-reader-service-account token"
            )
        return token
    raise ConfigError("give --token-file or --kubeconfig for the remote cluster's token")


def build(args: argparse.Namespace) -> dict[str, Any]:
    try:
        with open(args.ca_file, "rb") as f:
            ca = f.read()
    except OSError as e:
        raise ConfigError(f"--ca-file {args.ca_file}: {e.strerror}") from e
    spec = RemoteSecretSpec(
        cluster_name=args.cluster_name, server=args.server, ca_pem=ca, token=_token(args),
        namespace=args.namespace, tls_server_name=args.tls_server_name, name=args.name,
    )  # fmt: skip
    text = yaml.safe_dump(kubeconfig(spec), sort_keys=False)
    return remote_secret(spec, text)


def run(args: argparse.Namespace) -> int:
    try:
        secret = build(args)
    except ConfigError as e:
        print(f"discofilter remote-secret: {e}", file=sys.stderr)
        return 2
    if args.output == "json":
        sys.stdout.write(orjson.dumps(secret, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(
            "# istiod multi-cluster remote secret, made by discofilter remote-secret\n"
        )
        sys.stdout.write(yaml.safe_dump(secret, sort_keys=False))
    return 0
