from discofilter.cli import main

raise SystemExit(main())
