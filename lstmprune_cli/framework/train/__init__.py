"""Stage 6, training: the task a model solves (`tasks`, a registry), the training loop with distillation and
evaluation (`loop`), tf.distribute and backups (`distribute`), and the learned structures (`learners`)."""
