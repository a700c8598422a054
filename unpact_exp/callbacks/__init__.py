"""Lightning callbacks: UNPACT evaluation at checkpoints, and saving the unlearned model."""
