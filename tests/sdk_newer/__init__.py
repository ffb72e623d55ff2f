"""A block repository in the newer SDK style (test decorators on block classes), ported and run."""
