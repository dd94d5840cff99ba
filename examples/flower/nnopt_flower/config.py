"""The run configuration, read the same way on the server and on the clients."""

from dataclasses import dataclass
from typing import Optional

import nnopt


@dataclass(frozen=True)
class Settings:
    program: str
    data: str
    clients: int
    rounds: int
    local_epochs: int
    non_iid: Optional[str]
    server_optimizer: str
    server_lr: Optional[float]
    server_momentum: Optional[float]
    precision: Optional[str]
    messages: Optional[str]
    seed: int
    target_accuracy: float
    output: str
    connect_timeout: float

    @staticmethod
    def from_run_config(rc) -> "Settings":
        def text(key):
            v = str(rc.get(key, ""))
            return v or None

        def positive(key):
            v = float(rc.get(key, -1.0))
            return v if v >= 0 else None

        program, data = str(rc["program"]), str(rc["data"])
        if not program or not data:
            raise ValueError("run config needs `program` (a .ntp file) and `data` (a dataset)")
        return Settings(
            program=program,
            data=data,
            clients=int(rc["clients"]),
            rounds=int(rc["rounds"]),
            local_epochs=int(rc["local-epochs"]),
            non_iid=text("non-iid"),
            server_optimizer=str(rc["server-optimizer"]),
            server_lr=positive("server-learning-rate"),
            server_momentum=positive("server-momentum"),
            precision=text("precision"),
            messages=text("messages"),
            seed=int(rc["seed"]),
            target_accuracy=float(rc["target-accuracy"]),
            output=str(rc["output"]),
            connect_timeout=float(rc.get("connect-timeout", 120.0)),
        )

    def load(self, data: Optional[str] = None):
        """The training program and the dataset (`data` overrides the configured one)."""
        return nnopt.TrainingProgram(self.program), nnopt.Dataset(data or self.data)
