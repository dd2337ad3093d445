"""The synthetic talking-head world: speech, faces, motion and labels we generate ourselves."""

# Bumped whenever the same seed draws different pixels or labels. Datasets record it in manifest.json, and
# ``styletalker data`` refuses to finish a folder written by another revision.
#   1: the first world.
#   2: wider mouths, a near-black mouth inside with a narrower band of teeth, eyelids that fall faster as the eye
#      closes (dlib reads mouth opening and closed eyes better: docs/benchmarks.md, "World (issue 2)").
WORLD_REVISION = 2
