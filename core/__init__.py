"""Platform-neutral conversation core: events in, replies out through a reply port."""
