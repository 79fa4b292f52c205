"""The query path: retrieval, ranking, evidence, FAQ matches, answer units, the extractive answer, answerability."""
