"""Composite queries: weighted terms of any modality, combined and searched in one space.

    q = parse_query('0.7*image:beach.jpg + audio:"waves.wav" - 0.5*text:"people" @ 20')
    vectors = resolve_terms(q.terms, embed=embed_fn, store=store)  # (T, D)
    hits = search(q, vectors, store, with_vectors=True)
    why = explain(hits, vectors, q.weights)

`terms` says what a query is, `parser` how it is written (grammar in its docstring and in
docs/query.md), `combine` how terms become vectors and hits, `explain` why a hit came back.
"""

from binding.query.combine import (
    CANCEL_TOLERANCE,
    RRF_K,
    EmbedFn,
    TermEmbedder,
    combine_sum,
    fuse_rrf,
    resolve_terms,
    rrf_depth,
    search,
    sum_length,
    weighted_sum,
    with_hit_vectors,
)
from binding.query.explain import Explanation, explain
from binding.query.parser import describe_term, format_query, format_source, parse_query
from binding.query.terms import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MODES,
    FileInput,
    Mode,
    PointInput,
    Query,
    QueryCancelledError,
    QueryError,
    QuerySyntaxError,
    Term,
    TermInput,
    TextInput,
    VectorInput,
    make_filter,
    to_timestamp,
)

__all__ = [
    "CANCEL_TOLERANCE",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MODES",
    "RRF_K",
    "EmbedFn",
    "Explanation",
    "FileInput",
    "Mode",
    "PointInput",
    "Query",
    "QueryCancelledError",
    "QueryError",
    "QuerySyntaxError",
    "Term",
    "TermEmbedder",
    "TermInput",
    "TextInput",
    "VectorInput",
    "combine_sum",
    "describe_term",
    "explain",
    "format_query",
    "format_source",
    "fuse_rrf",
    "make_filter",
    "parse_query",
    "resolve_terms",
    "rrf_depth",
    "search",
    "sum_length",
    "to_timestamp",
    "weighted_sum",
    "with_hit_vectors",
]
