"""Jobs: records, stores, queues, the runner that executes one, and webhooks."""
