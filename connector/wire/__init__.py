"""The wire format: envelope, body rendering and mapping, signing, and target URL safety;
used alike by subscriptions (checking what a hook will send) and delivery (sending it).

Kept empty: `connector.wire.signing` is what receivers import, and importing it must not
load anything beyond the standard library.
"""
