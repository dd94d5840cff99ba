"""The ClientApp: nnopt trains the node's share of the data and replies with an update.

Flower runs a ClientApp once per message, so the client's whole state (model held,
optimizer, FP8 scaling history, uplink residual, random generators) travels between
rounds as bytes in the node's context. The node's index is its `partition-id` (node
config); its rows are the federation's split for that index, drawn from the seed as
`nnopt fl simulate` draws them.
"""

import functools

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

import nnopt

from .config import Settings

app = ClientApp()

STATE = "nnopt-client"


@functools.lru_cache(maxsize=4)
def load(program: str, data: str):
    """The program and the dataset, kept for later messages (a simulation's workers run
    many ClientApps in one process)."""
    return nnopt.TrainingProgram(program), nnopt.Dataset(data)


@functools.lru_cache(maxsize=4)
def split(program: str, data: str, clients: int, seed: int, non_iid):
    """Each client's rows, as the federation splits them."""
    p, d = load(program, data)
    return nnopt.client_rows(p, d, clients, seed, non_iid)


def as_bytes(record: ArrayRecord, key: str) -> bytes:
    return record[key].numpy().tobytes()


def as_array(data: bytes) -> Array:
    return Array(np.frombuffer(data, dtype=np.uint8))


@app.train()
def train(msg: Message, context: Context) -> Message:
    s = Settings.from_run_config(context.run_config)
    index = int(context.node_config["partition-id"])
    data_path = str(context.node_config.get("data", s.data))
    program, data = load(s.program, data_path)
    if STATE in context.state:
        client = nnopt.FlClient.restore(
            program, as_bytes(context.state[STATE], "state"), s.precision, s.messages
        )
    else:
        client = nnopt.FlClient(program, index, s.seed, s.precision, s.messages)
    rows = split(s.program, data_path, s.clients, s.seed, s.non_iid)[index]
    broadcast = as_bytes(msg.content["nnopt"], "message")
    update, done = client.round(broadcast, data, rows, s.local_epochs)
    context.state[STATE] = ArrayRecord({"state": as_array(client.save())})
    metrics = MetricRecord({"partition-id": index, **done})
    content = RecordDict({"nnopt": ArrayRecord({"message": as_array(update)}), "metrics": metrics})
    return Message(content=content, reply_to=msg)
