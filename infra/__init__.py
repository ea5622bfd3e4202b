"""AWS CDK (Python) infrastructure of the FM Gateway: one stack, one construct per concern."""
