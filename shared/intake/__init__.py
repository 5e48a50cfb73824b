"""What comes in: image and document inspection, page selection and rendering, input quality, JSON limits."""
