"""Document data shipped with the package (the GB/T 2260 region table) and its loader."""
