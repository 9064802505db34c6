"""treemodel adapters."""
