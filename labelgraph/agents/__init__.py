"""The four agents of the loop (selector, generator, annotator, critic) and the human reviewer."""
