"""The ServerApp: runs the nnopt strategy for the configured rounds and writes the run's
figures as `nnopt fl simulate --json` prints them (to the run config's `output`)."""

import os
import tempfile

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from .config import Settings
from .strategy import NnoptFederation

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    s = Settings.from_run_config(context.run_config)
    program, data = s.load()
    strategy = NnoptFederation(s, program, data)
    strategy.start(grid=grid, initial_arrays=strategy.global_arrays(), num_rounds=s.rounds)
    # Written whole or not at all.
    out = os.path.abspath(s.output)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out), prefix=".nnopt_flower")
    with os.fdopen(fd, "w") as f:
        f.write(strategy.federation.summary_json())
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
