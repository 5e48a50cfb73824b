"""Label inspection: GS1 element strings and the reasons a label needs a human."""
