"""BookKeeper cluster storage: the ledger client and the ledger-chain partition log."""
