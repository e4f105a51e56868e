"""`usage verify`: prove what `usage` wrote is untouched and whole. Offline."""
