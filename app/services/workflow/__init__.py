"""Running the policy's processes: deploy, start, complete, lock, persist engine progress, timers, actions."""
