"""The runtime edge: serves deployed builds at their environments' domains, by Host header."""
