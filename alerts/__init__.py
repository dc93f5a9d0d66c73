"""Rule evaluation, story-level suppression and webhook delivery of alerts."""
