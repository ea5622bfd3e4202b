"""Embeddings through the candidate loop: ``POST /v1/embeddings`` and embedding bodies on the Bedrock-native path
(``invocation``).

A request surface: may use ``fmgateway.native`` (its body checks), ``core`` and everything below.
"""
