def load_keras_weights(model, path):
    raise NotImplementedError
