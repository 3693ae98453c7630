# The script fails at import: a module that is not installed.
import torch
import a_module_that_is_not_installed  # noqa: F401

model = torch.nn.Linear(4, 1)
