"""nnopt inside Flower: a ClientApp that trains with nnopt and a ServerApp whose strategy
keeps an FP32 global model (see pyproject.toml for the run configuration)."""
