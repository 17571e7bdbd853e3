"""The transaction coordinator (Kafka's TransactionCoordinator): transactional
ids, their producer ids and epochs, and the two-phase commit of each
transaction, stored in `__transaction_state`."""
