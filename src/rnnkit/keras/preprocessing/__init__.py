"""``rnnkit.keras.preprocessing.sequence.pad_sequences``, where older Keras programs import it."""
