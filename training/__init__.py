"""training: experiments, model.fit, callbacks and evaluation."""
