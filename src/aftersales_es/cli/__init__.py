"""The ``aftersales`` command line, one module per command group."""
