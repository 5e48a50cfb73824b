"""Human review of a finished job: routing, the review block's compare-and-set lifecycle, corrections
(result revisions), and training data from what reviewers approved or corrected (issue 25)."""
