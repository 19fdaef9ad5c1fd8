"""Hooks: accounts and their keys, checking subscription bodies, the subscription use cases,
and samples as a hook shapes them. Above `events` (mappings are tried on samples) and
below `delivery` (which reads stored hooks to send)."""
