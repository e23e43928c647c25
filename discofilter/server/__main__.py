"""``python -m discofilter.server [serve flags]``: the proxy without the other subcommands."""

from discofilter.server.command import main

raise SystemExit(main())
