"""The console's routes, one module per area. ``public`` is the only unauthenticated one."""
