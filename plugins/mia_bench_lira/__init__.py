"""LiRA (Carlini et al., S&P 2022): the torch-free scoring core lives in `scoring`."""
