"""Durable profiles: enabled copies under /etc/livemount, applied at boot by systemd, watched for drift."""
