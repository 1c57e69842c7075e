"""Recovery steps that train the compressed IR (distillation, fine-tuning)."""
