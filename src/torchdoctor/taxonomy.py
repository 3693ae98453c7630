"""The fault categories of TAXONOMY.md: every finding carries one of these."""

CATEGORIES = (
    "capacity.bottleneck", "capacity.no_nonlinearity", "capacity.too_small",
    "activation.output_range", "activation.saturation", "activation.dead_relu",
    "loss.double_softmax", "loss.logits_mismatch", "loss.target_shape", "loss.wrong_kind",
    "optim.lr_too_high", "optim.lr_too_low", "optim.weight_decay", "optim.missing_zero_grad",
    "optim.no_step", "optim.params_missing",
    "graph.detached", "graph.frozen",
    "grad.vanishing", "grad.exploding",
    "numeric.nonfinite",
    "data.unnormalized", "data.misaligned", "data.nonfinite", "data.same_batch", "data.class_imbalance",
    "regularization.dropout",
    "mode.eval",
    "init.symmetric",
)
