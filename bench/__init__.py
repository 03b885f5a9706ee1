"""``make bench``: the figures of DESIGN.md, measured as ratios side by side in one run."""
