"""The supervisor: one gateway process per enabled profile; its systemd units and sd_notify."""
