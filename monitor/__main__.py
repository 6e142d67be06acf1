"""`python -m monitor` is the same as the `trial-monitor` command."""

from monitor.cli import main

raise SystemExit(main())
