"""Training: the objective (loss.py); the trainer, recipes and optimizers arrive with the pretraining issue."""
