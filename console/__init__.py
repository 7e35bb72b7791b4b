"""The one place that wires every app together: the admin dashboard, the demo instance and demo
data, the bootstrap, serve and demo_instance commands, and the health checks. Nothing imports it
but config/ (its URLs) and Django (its AppConfig)."""
