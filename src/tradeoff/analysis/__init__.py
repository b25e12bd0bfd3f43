"""Analysis of records and reference rows (no torch, no report): the tidy table, the paper's
claims and findings, the recommender, published scores, the released code's energy audit."""
