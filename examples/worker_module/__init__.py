"""A worker module with several processors, and a producer of delayed, prioritized and retried jobs."""
