"""The only code that talks to kube-apiserver: where it is, who the proxy is, and the HTTP client.

target.py      UpstreamTarget: server URL + TLS settings + the proxy's own credentials
kubeconfig.py  kubeconfig files (contexts, tokens, client certificates, CAs)
incluster.py   the in-cluster service account (KUBERNETES_SERVICE_HOST, projected token)
token.py       a bearer token file re-read when it changes (projected tokens rotate)
client.py      Upstream: the aiohttp sessions (caller traffic vs the proxy's own traffic)
body.py        AiohttpBody: a watch response read chunk by chunk, breakage as UpstreamBroken
discovery.py   which resources are namespaced, from /api/v1 and /apis/G/V
resolve.py     the settings → an UpstreamTarget (URL, kubeconfig, in-cluster, default)
queries.py     the query of an informer's WATCH (shared with the benchmark's watch client)
reflector.py   an informer's LIST-then-WATCH retry loop (shared the same way)
"""
