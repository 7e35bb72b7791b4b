"""One kind per network: `kind_of(connection.platform_type)` answers everything about a network
(see `base.Kind` and `registry`; how to add one: docs/adding-a-network.md)."""
