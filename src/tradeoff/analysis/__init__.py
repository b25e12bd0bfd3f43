"""Analysis of run records and of the architectures: the tidy table, claims, the recommender,
the cost model and the accuracy ceilings of the data."""
