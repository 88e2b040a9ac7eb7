"""The audit log: append (services), chain hashing, checkpoints and verification."""
