"""Arrow schemas (and, later, data contracts) for every manifest, defined once, as code."""
