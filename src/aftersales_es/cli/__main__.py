"""``python -m aftersales_es.cli``: the command line."""

from aftersales_es.cli.main import main

raise SystemExit(main())
