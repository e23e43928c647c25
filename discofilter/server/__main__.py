"""``python -m discofilter.server [serve flags]``: the proxy without the other subcommands."""

from discofilter.cli.serve import main

raise SystemExit(main())
