"""KIP-848 consumer groups: members, reconciliation and the server-side assignors."""
