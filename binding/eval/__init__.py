"""`binding eval`: how well the space classifies and retrieves, on the user's data and on the
paper's benchmarks (arXiv 2305.05665, Table 2).

- `metrics`: pure functions (ranks, recall@k, median rank, MRR, top-k, confusion, nDCG);
- `classify`, `retrieve`, `composite`: the three kinds of evaluation over any modalities;
- `index`: the store's approximate search against exact search, and relevance judgements;
- `paper`: readers of the paper's datasets in their published layouts;
- `cache`: embeddings cached by content hash, model and precision;
- `report`: every run as a JSON, and the side-by-side comparison of runs;
- `session`: an encoder + cache opened from `Settings`, as the CLI and the dashboard use it.
"""
