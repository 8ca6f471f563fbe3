"""The front door: one URL and one key for every profile, routed by `model`.

A process of its own beside the gateways (started and supervised by `hermes up` when
`frontdoor.enabled` is set in $HERMES_HOME/hermes.yaml). It reaches gateways over HTTP only,
with a credential of its own (stores/frontdoor_credential.py), never by importing them."""
