"""Stream machinery: one filtered watch's pump, and the registry of the open ones.

::

    pump.py         WatchPump: upstream body → decode → filter → [coalesce] → one write per chunk
    registry.py     WatchStream (one open watch) and StreamRegistry (enrollment changes end them)
    stages.py       the churnControl section → one coalescing stage per watch stream

Nothing here imports aiohttp or ``ProxyServer``: the pump gets its collaborators passed in (an
upstream body of plain bytes, the filter, the stage, a counter sink), so tests drive it with an
in-memory upstream.
"""
