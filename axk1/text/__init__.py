"""Text helpers shared by the capabilities (data, synth, eval, posttrain): Korean script and line joining
(korean.py), word and character n-grams (ngrams.py). A leaf layer: it imports nothing else from axk1, so any
capability may use it without depending on another capability."""
