"""/api/v1/captions/: posts, images and their review, caption tasks, runs, settings, image captions."""
