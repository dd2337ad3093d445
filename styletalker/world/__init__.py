"""The synthetic talking-head world: speech, faces, motion and labels we generate ourselves."""
