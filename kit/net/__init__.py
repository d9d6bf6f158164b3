"""Stage 3, the network: targets, augmentation and batches, the model, training, prediction.
Imports the project stage."""
