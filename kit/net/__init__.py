"""Stage 3, the network: targets, augmentation and batches, backbones (by ``net_type``) and
heads, the model, training, prediction. Imports the project stage."""
