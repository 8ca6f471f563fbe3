"""Pure encode/decode of the wire formats hermes speaks: no I/O, no HTTP library."""
