"""The HTTP service and web console over the same service layer (``aftersales serve``)."""
