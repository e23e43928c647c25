"""The churn benchmark harness (``discofilter bench``, ``discofilter record``).

Named ``harness`` so it is not confused with the top-level ``bench/`` folder (entry-point
scripts and the committed results) that uses it.

runner.py          one run: every mode against one upstream and one churn
pipeline.py        the command end to end: scenario → API server → runner → artefacts
targets.py         the modes: direct, discofilter (± churn control), kubectl proxy
clients.py         the watching clients of a mode (aiohttp watchers, official-client process)
official_client.py the official ``kubernetes`` client as a child process
apiserver.py       the API server under test: the emulator child process or a real cluster
emulator_proc.py   the emulator child process itself (populate, churn on command)
scenario_meta.py   what a scenario says (generated or trace), and how to build its churn
scenario_file.py   reading a scenario file into a ScenarioMeta
sim_scenario.py    the emulator's scenario format: selectors, non-mesh share, kinds
trace.py           trace formats (recorder JSON lines, kubectl -w output)
replay.py          trace replay into the emulator's Store
record.py          ``discofilter record``
cluster_churn.py   churn in a real cluster through the API
stats.py           percentiles, the resourceVersion latency join, state comparison (pure)
results.py         results.json, the table, RESULTS.md; plots.py PNGs; progress.py live line
processes.py       child processes, CPU/RSS sampling, readiness
"""
