"""The server strategy: an FP32 global model in nnopt's Federation. Each round it
broadcasts the model (FP8 or f32, as a delta after the first round) to every node, decodes
the nodes' updates in partition order, averages them with the server optimizer and
evaluates the result on the test split; the bytes it counts are Flower's
(`RecordDict` sizes of every message sent and received)."""

import time
from typing import Iterable, Optional

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.common import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

import nnopt

from .config import Settings


def flower_bytes(m: Message) -> int:
    """The bytes Flower counts for a message's content."""
    return sum(record.count_bytes() for record in m.content.values())


class NnoptFederation(Strategy):
    def __init__(self, settings: Settings, program, data):
        s = settings
        self.settings = s
        self.federation = nnopt.Federation(
            program,
            data,
            clients=s.clients,
            rounds=s.rounds,
            local_epochs=s.local_epochs,
            non_iid=s.non_iid,
            server_optimizer=s.server_optimizer,
            server_lr=s.server_lr,
            server_momentum=s.server_momentum,
            precision=s.precision,
            messages=s.messages,
            seed=s.seed,
            target_accuracy=s.target_accuracy,
        )
        self.bytes_down = 0
        self.broadcast_bytes = 0

    def global_arrays(self) -> ArrayRecord:
        return ArrayRecord([np.asarray(a) for a in self.federation.global_params()])

    def nodes(self, grid: Grid) -> list:
        """Waits until all `clients` nodes are connected."""
        deadline = time.time() + self.settings.connect_timeout
        while True:
            nodes = sorted(grid.get_node_ids())
            if len(nodes) >= self.settings.clients:
                return nodes[: self.settings.clients]
            if time.time() > deadline:
                raise RuntimeError(
                    f"{len(nodes)} of {self.settings.clients} nodes connected in "
                    f"{self.settings.connect_timeout:.0f} s"
                )
            time.sleep(0.2)

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        broadcast = self.federation.broadcast(server_round)
        messages = []
        for node in self.nodes(grid):
            content = RecordDict({"nnopt": ArrayRecord({"message": Array(np.frombuffer(broadcast, dtype=np.uint8))})})
            messages.append(Message(content=content, dst_node_id=node, message_type=MessageType.TRAIN))
        self.broadcast_bytes = flower_bytes(messages[0])
        self.bytes_down = sum(map(flower_bytes, messages))
        return messages

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[Optional[ArrayRecord], Optional[MetricRecord]]:
        replies = list(replies)
        failed = [r for r in replies if r.has_error()]
        if failed:
            raise RuntimeError(f"round {server_round}: {len(failed)} clients failed: {failed[0].error.reason}")
        if len(replies) != self.settings.clients:
            raise RuntimeError(f"round {server_round}: {len(replies)} of {self.settings.clients} clients replied")
        # Partition order, as `nnopt fl simulate` aggregates.
        replies.sort(key=lambda r: int(r.content["metrics"]["partition-id"]))
        updates = [r.content["nnopt"]["message"].numpy().tobytes() for r in replies]
        training = [
            {k: r.content["metrics"][k] for k in ("samples", "steps", "loss_sum")} for r in replies
        ]
        sizes = [flower_bytes(r) for r in replies]
        record, warning = self.federation.end_round(
            server_round, updates, training, sum(sizes), self.bytes_down, self.broadcast_bytes, sizes[-1]
        )
        if warning:
            log(30, "%s", warning)
        metrics = MetricRecord({k: record[k] for k in ("accuracy", "test_loss", "train_loss", "bytes_up", "bytes_down")})
        return self.global_arrays(), metrics

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        # The server evaluates the global model itself (in aggregate_train).
        return []

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> Optional[MetricRecord]:
        return None

    def summary(self) -> None:
        s = self.settings
        log(20, "\t├── nnopt federation: %d clients, %d rounds, precision %s, messages %s, server %s",
            s.clients, s.rounds, s.precision or "the program's", s.messages or "as precision", s.server_optimizer)
