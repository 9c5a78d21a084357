"""The process's Redis: the client, every key format and the codec."""
