"""Overlays: the rules overlayfs imposes (rules), the planner's overlay part
(plan, upper_policy), what a mounted overlay changed (changes, walk, stack,
prefetch) and resetting it without writing into a mounted layer (reset, copy,
reset_journal)."""
