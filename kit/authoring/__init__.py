"""Authoring a challenge: the files an organiser's challenge is made of (starter notebook, README, grading notebook)."""
