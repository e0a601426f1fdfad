"""Text helpers shared by the capabilities (data, synth, eval, posttrain, infer): Korean script and line joining
(korean.py), word and character n-grams (ngrams.py), the chat template and its renderer (chat_template.py). A leaf
layer: it imports nothing else from axk1, so any capability may use it without depending on another capability."""
