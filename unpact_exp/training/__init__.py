"""Training: sequence encoding, data modules, the unlearning LightningModule, the target build."""
