"""The supervisor: runs one gateway process per enabled profile, and installs itself under systemd."""
