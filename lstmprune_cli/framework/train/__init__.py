"""Stage 6, training: the training loop with distillation and evaluation (`loop`), tf.distribute and backups
(`distribute`), and the structures learned while training (`learners`, a registry)."""
