"""The always-on daemon: the loop, the watcher, the sweep's scheduler, retries, alerts."""
