"""Training: losses (pure functions over tensors), and what drives them."""
