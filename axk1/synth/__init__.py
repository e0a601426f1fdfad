"""Synthetic training data from parsed documents, written by a teacher model behind an OpenAI-compatible API.

recipe.py (TOML → dataclasses), documents.py (documents → passages), text.py (language, key spans; n-grams are axk1.text.ngrams),
formats.py (teacher reply → sample), filters.py (checks, decontamination), dedup.py (MinHash), teacher.py
(client + response cache), pipeline.py (the run, with accounting), cli.py (`axk1 data synth`).
"""
